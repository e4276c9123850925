package testkit

import (
	"runtime"
	"strings"
)

// Goroutines counts the goroutines whose stack holds match (such as
// "ticketing.dev/common/outbox.(*"), to show that what a stop function
// ended has exited by the time it returns.
func Goroutines(match string) int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, match) {
			count++
		}
	}
	return count
}
