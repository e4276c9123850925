package main

import "errors"

var (
	errNotOwner = errors.New("ticket belongs to another user")
	// errReserved: an order holds the ticket (or bought it); its title and
	// price are what the buyer ordered.
	errReserved = errors.New("ticket is reserved")
)

// edit is the change of a ticket's title and price by userID: only its
// seller may edit it, and not while an order holds it.
func edit(userID, title string, price float64) func(*ticket) (bool, error) {
	return func(t *ticket) (bool, error) {
		switch {
		case t.UserID != userID:
			return false, errNotOwner
		case t.OrderID != "":
			return false, errReserved
		}
		t.Title, t.Price = title, price
		return true, nil
	}
}
