package main

import (
	"fmt"
	"math"
	"strconv"
)

// usd formats a price as $1,000,000.00: whole cents (prices are at most
// 2 decimals, so rounding only removes binary noise), thousands grouped.
func usd(p float64) string {
	cents := int64(math.Round(p * 100))
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	grouped := make([]byte, 0, len(whole)+len(whole)/3)
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			grouped = append(grouped, ',')
		}
		grouped = append(grouped, whole[i])
	}
	return fmt.Sprintf("%s$%s.%02d", sign, grouped, cents%100)
}

// mmss is a countdown as minutes and seconds ("14:59"), never negative.
func mmss(seconds int) string {
	seconds = max(seconds, 0)
	return fmt.Sprintf("%d:%02d", seconds/60, seconds%60)
}

// usdPlain is a price as the sell form takes it: "1000000.00".
func usdPlain(p float64) string { return strconv.FormatFloat(math.Round(p*100)/100, 'f', 2, 64) }

// timeLeft is the countdown as a screen reader announces it: in whole
// minutes, so that a polite live region speaks once a minute, not every
// second (static/app.js words it the same).
func timeLeft(seconds int) string {
	switch m := seconds / 60; {
	case seconds <= 0:
		return "Time to pay is up"
	case m == 0:
		return "Less than a minute left to pay"
	case m == 1:
		return "1 minute left to pay"
	default:
		return fmt.Sprintf("%d minutes left to pay", m)
	}
}
