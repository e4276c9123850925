package main

import (
	"fmt"

	"ticketing.dev/common/events"
)

// watchBus feeds the hub from the bus with non-durable subscriptions
// (events.Watch: no queue group, new events only), so every client replica
// sees every event and a restarted one does not replay history to nobody.
// Closing conn ends them.
func watchBus(conn events.Bus, h *hub) error {
	watches := []func() (events.Subscription, error){
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.TicketCreated) {
				h.publish(listedEvent(liveTicket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, Status: statusAvailable}))
			})
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.TicketUpdated) {
				// A sold ticket keeps its order; sold tells it from a
				// reserved one (tickets that predate sold say reserved,
				// and the page never turns a sold badge back to reserved).
				status := statusAvailable
				switch {
				case e.Sold:
					status = statusSold
				case e.OrderID != "":
					status = statusReserved
				}
				h.publish(ticketEvent(liveTicket{ID: e.ID, Title: e.Title, Price: e.Price, UserID: e.UserID, Status: status}))
			})
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.OrderCreated) {
				h.publish(orderEvent(order{ID: e.ID, Status: string(e.Status), ExpiresAt: e.ExpiresAt}, e.UserID))
			})
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.OrderCancelled) {
				h.publish(orderEvent(order{ID: e.ID, Status: string(events.StatusCancelled)}, ""))
			})
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.OrderComplete) {
				h.publish(orderEvent(order{ID: e.ID, Status: string(events.StatusComplete)}, ""))
				h.publish(ticketEvent(liveTicket{ID: e.Ticket.ID, Status: statusSold}))
			})
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.PaymentRefunded) {
				h.publish(orderEvent(order{ID: e.OrderID, Status: string(events.StatusCancelled), Refunded: true}, ""))
			})
		},
	}
	for _, watch := range watches {
		if _, err := watch(); err != nil {
			return fmt.Errorf("live updates: %w", err)
		}
	}
	return nil
}
