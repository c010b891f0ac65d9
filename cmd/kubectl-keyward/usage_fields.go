package main

import (
	"fmt"
	"strings"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// usageFields are status.usage as describe and usage print it, label and
// value, one line each.
func usageFields(u *keywardv1.UsageStatus) [][2]string {
	if u == nil {
		return [][2]string{{"Last Used", "<never seen by the verifiers>"}}
	}
	lastUsed := timeOrNone(u.LastUsedTime)
	if lastUsed == "" {
		lastUsed = "<never> (only denied requests that did not prove the secret)"
	}
	fields := [][2]string{
		{"Last Used", lastUsed},
		{"Last Hour", usageWindowText(u.LastHour)},
		{"Last Day", usageWindowText(u.LastDay)},
	}
	if u.LastDay != nil && len(u.LastDay.TopDenials) > 0 {
		denials := make([]string, len(u.LastDay.TopDenials))
		for i, d := range u.LastDay.TopDenials {
			denials[i] = fmt.Sprintf("%s %d", d.Reason, d.Count)
		}
		fields = append(fields, [2]string{"Top Denials", strings.Join(denials, ", ")})
	}
	if len(u.TopCountries) > 0 {
		countries := make([]string, len(u.TopCountries))
		for i, c := range u.TopCountries {
			countries[i] = fmt.Sprintf("%s %d", c.Country, c.Requests)
		}
		fields = append(fields, [2]string{"Top Countries", strings.Join(countries, ", ")})
	}
	if len(u.TopNetworks) > 0 {
		networks := make([]string, len(u.TopNetworks))
		for i, n := range u.TopNetworks {
			networks[i] = fmt.Sprintf("%s %d", n.Network, n.Requests)
		}
		fields = append(fields, [2]string{"Top Networks", strings.Join(networks, ", ")})
	}
	return fields
}

func usageWindowText(w *keywardv1.UsageWindow) string {
	if w == nil {
		return "no requests"
	}
	return fmt.Sprintf("%d requests, %d denied (%s)", w.Requests, w.Denials, w.ErrorRate)
}
