package access

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

const minutesPerWeek = 7 * minutesPerDay

// AtLeastAsStrict reports how child's conditions could admit a request that
// parent's refuse, for a key that delegates from the key named parentName.
// child must set every condition parent sets, each at least as narrow:
// every source CIDR inside one of the parent's, countries and networks
// among the parent's, a compliant device when the parent requires one, and
// every time window inside the parent's windows of the same time zone.
// Fields are relative to the Conditions; nil means child is as strict.
func AtLeastAsStrict(child, parent Conditions, parentName string) []Problem {
	var ps Problems
	ps = append(ps, narrowerSources(child.SourceCIDRs, parent.SourceCIDRs, parentName)...)
	ps = append(ps, subset("countries", "country", "countries", child.Countries, parent.Countries, parentName)...)
	ps = append(ps, subset("networks", "network class", "network classes", child.Networks, parent.Networks, parentName)...)
	ps = append(ps, narrowerWindows(child.TimeWindows, parent.TimeWindows, parentName)...)
	if parent.RequireCompliantDevice && !child.RequireCompliantDevice {
		ps.add("requireCompliantDevice", "parent key %q requires a compliant device; a delegated key must require one too", parentName)
	}
	return ps
}

func narrowerSources(child, parent []string, parentName string) Problems {
	if len(parent) == 0 {
		return nil
	}
	var ps Problems
	if len(child) == 0 {
		ps.add("sourceCIDRs", "parent key %q is limited to %s; a delegated key must be limited to those networks or narrower", parentName, strings.Join(parent, ", "))
	}
	for i, c := range child {
		if !within(c, parent) {
			ps.add(fmt.Sprintf("sourceCIDRs[%d]", i), "network %s is not inside the networks of parent key %q (%s)", c, parentName, strings.Join(parent, ", "))
		}
	}
	return ps
}

// within reports whether network c lies inside one of the parents. A
// parent network that does not parse admits nothing.
func within(c string, parents []string) bool {
	cp, err := parsePrefix(c)
	if err != nil {
		return false
	}
	for _, s := range parents {
		pp, err := parsePrefix(s)
		if err != nil {
			continue
		}
		if pp.Addr().Is4() == cp.Addr().Is4() && pp.Bits() <= cp.Bits() && pp.Contains(cp.Addr()) {
			return true
		}
	}
	return false
}

func subset(field, one, many string, child, parent []string, parentName string) Problems {
	if len(parent) == 0 {
		return nil
	}
	var ps Problems
	allowed := strings.Join(parent, ", ")
	if len(child) == 0 {
		ps.add(field, "parent key %q is limited to the %s %s; a delegated key must be limited to those %s or fewer", parentName, many, allowed, many)
	}
	for i, c := range child {
		if !slices.Contains(parent, c) {
			ps.add(fmt.Sprintf("%s[%d]", field, i), "%s %q is not allowed by parent key %q (parent allows: %s)", one, c, parentName, allowed)
		}
	}
	return ps
}

func narrowerWindows(child, parent []TimeWindow, parentName string) Problems {
	if len(parent) == 0 {
		return nil
	}
	var ps Problems
	var parents []window
	for _, tw := range parent {
		// A parent window that does not compile admits nothing.
		if w, wps := compileWindow(tw, ""); len(wps) == 0 {
			parents = append(parents, w)
		}
	}
	described := describeWindows(parents)
	if len(child) == 0 {
		ps.add("timeWindows", "parent key %q is limited to the time windows %s; a delegated key must be limited to those windows or narrower", parentName, described)
	}
	for i, tw := range child {
		field := fmt.Sprintf("timeWindows[%d]", i)
		w, wps := compileWindow(tw, field)
		if len(wps) > 0 {
			ps.add(field, "time window %s-%s %s is not valid, so it cannot be shown to be inside the time windows of parent key %q (%s)", tw.Start, tw.End, zoneName(tw.TimeZone), parentName, described)
			continue
		}
		var sameZone []window
		for _, p := range parents {
			if p.zone == w.zone {
				sameZone = append(sameZone, p)
			}
		}
		switch {
		case len(sameZone) == 0:
			ps.add(field, "time window %s is in time zone %s, but the time windows of parent key %q are not (%s); a delegated key's windows must use its parent's time zones", &w, w.zone, parentName, described)
		case !covers(spansOf(sameZone, -1, 0, 1), spansOf([]window{w}, 0)):
			ps.add(field, "time window %s is not inside the time windows of parent key %q (%s)", &w, parentName, described)
		}
	}
	return ps
}

func describeWindows(ws []window) string {
	if len(ws) == 0 {
		return "none that are valid"
	}
	out := make([]string, len(ws))
	for i := range ws {
		out[i] = ws[i].String()
	}
	return strings.Join(out, "; ")
}

// span is a stretch of the week in minutes from Sunday 00:00, [from, to).
type span struct{ from, to int }

// spansOf lays windows of one zone out on the week, shifted by the given
// numbers of weeks, merging stretches that touch. Comparing wall-clock
// minutes of one zone is exact: daylight saving time shifts both sides the
// same way.
func spansOf(ws []window, weeks ...int) []span {
	var out []span
	for _, w := range ws {
		length := w.end - w.start
		if length < 0 {
			length += minutesPerDay
		}
		for d := range 7 {
			if !w.opensOn(time.Weekday(d)) {
				continue
			}
			for _, wk := range weeks {
				from := wk*minutesPerWeek + d*minutesPerDay + w.start
				out = append(out, span{from, from + length})
			}
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.from - b.from })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.from <= merged[n-1].to {
			merged[n-1].to = max(merged[n-1].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// covers reports whether every span of inner lies inside one of outer.
func covers(outer, inner []span) bool {
	for _, in := range inner {
		if !slices.ContainsFunc(outer, func(o span) bool { return o.from <= in.from && in.to <= o.to }) {
			return false
		}
	}
	return true
}
