package main

import (
	"io"
	"testing"

	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

func TestHeadAnswersEveryGetRoute(t *testing.T) {
	testkit.HeadAnswersEveryGet(t, routes(service.NewLogger(io.Discard, "expiration", "info")))
}
