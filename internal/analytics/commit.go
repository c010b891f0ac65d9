package analytics

import (
	"net/netip"
	"slices"
)

// commit adds minute i to the key's rings and runs the detectors that
// judge a minute. Only verified requests make the key used and move its
// baselines, countries and networks; of them, OtherDenials are the key's
// use but move no baseline of Denials (see denialSpike).
func (k *series) commit(i uint32, m Minute, p Params, reasons *reasonTable, gaps *incompleteMinutes) []Finding {
	verified := m.Verified()
	var found []Finding
	add := func(f Finding, ok bool) {
		if ok {
			found = append(found, f)
		}
	}
	// before the rings move on past hours not folded yet
	add(k.closeHours(i, verified > 0, p, gaps))
	k.advance(i)
	if verified > 0 {
		if !k.used() {
			k.firstUsed, k.lastUsed = i, i
			k.volume.open = hourOf(i) + 1
		}
		k.usedDays = k.usedDays<<min(8, dayOf(i)-dayOf(k.lastUsed)) | 1
		k.lastUsed = i
		k.silenceReported = false
		add(k.locate(i, m, p))
	}
	k.record(i, m, verified > 0, reasons)
	if verified > 0 {
		add(k.volumeSpike(i, p))
	}
	add(k.denialSpike(i, m, p))
	return found
}

// record adds minute i to the minute and hour rings and the hour's top
// lists.
func (k *series) record(i uint32, m Minute, used bool, reasons *reasonTable) {
	verifiedDenials := addSat(m.VerifiedDenials, m.OtherDenials)
	denials := addSat(verifiedDenials, m.UnverifiedDenials)
	slot := &k.minutes[i%minuteSlots]
	slot.permits, slot.denials = m.Permits, denials

	h := hourOf(i)
	hour := &k.hours[h%hourSlots]
	hour.permits = addSat(hour.permits, m.Permits)
	hour.verifiedDenials = addSat(hour.verifiedDenials, verifiedDenials)
	hour.unverifiedDenials = addSat(hour.unverifiedDenials, m.UnverifiedDenials)

	tops := &k.tops[h%dayTopSlots]
	// in a fixed order: a space-saving list depends on the order of adds,
	// and a summary must not depend on a map's
	names := make([]string, 0, len(m.Denials))
	for name := range m.Denials {
		names = append(names, name)
	}
	slices.Sort(names)
	var minuteN [2]uint32
	for _, name := range names {
		id, n := reasons.id(name), m.Denials[name]
		topAdd(tops.reasons[:], tops.reasonsN[:], id, n)
		topAdd(slot.reasons[:], minuteN[:], id, n)
	}
	for j, n := range minuteN {
		slot.reasonsN[j] = addSat16(0, n)
	}
	if !used {
		return // locations are the verified requests'
	}
	for _, c := range m.Countries {
		topAdd(tops.countries[:], tops.countriesN[:], countryID(c.Value), c.N)
	}
	for _, n := range m.Networks {
		prefix, err := netip.ParsePrefix(n.Value)
		if err != nil {
			continue
		}
		if at := k.knownNetwork(prefix); at >= 0 {
			topAdd(tops.networks[:], tops.networksN[:], uint16(at+1), n.N)
		}
	}
}
