package analytics

// summary is the key's Summary as of minute now: the 60 minutes before it
// from the minute ring, the last 24 clock hours (the current one included) from
// the hour ring. It reads nothing but the rings and now, so that the same
// history gives the same summary, and an idle key's is fixed once its last
// minute is a day old.
func (k *series) summary(now uint32, reasons *reasonTable) Summary {
	var out Summary
	if k.used() {
		out.LastUsed = timeOf(k.lastUsed)
	}
	hourReasons := tally{}
	for i := now - min(now, 60); i < now; i++ {
		if !k.minuteHeld(i) {
			continue
		}
		slot := k.minutes[i%minuteSlots]
		out.Hour.Permits += uint64(slot.permits)
		out.Hour.Denials += uint64(slot.denials)
		for j, id := range slot.reasons {
			if id != 0 {
				hourReasons[reasons.name(id)] += uint64(slot.reasonsN[j])
			}
		}
	}
	out.Hour.Requests = out.Hour.Permits + out.Hour.Denials
	out.Hour.TopDenials = hourReasons.top(3)

	current := hourOf(now)
	from := current - min(current, 23)
	for h := from; h <= current; h++ {
		if !k.hourHeld(h, hourSlots) {
			continue
		}
		slot := k.hours[h%hourSlots]
		out.Day.Permits += uint64(slot.permits)
		out.Day.Denials += uint64(slot.verifiedDenials) + uint64(slot.unverifiedDenials)
	}
	out.Day.Requests = out.Day.Permits + out.Day.Denials
	dayReasons, countries, networks := tally{}, tally{}, tally{}
	for h := from; h <= current; h++ {
		if !k.hourHeld(h, dayTopSlots) {
			continue
		}
		t := k.tops[h%dayTopSlots]
		for j, id := range t.reasons {
			if id != 0 {
				dayReasons[reasons.name(id)] += uint64(t.reasonsN[j])
			}
		}
		for j, id := range t.countries {
			if id != 0 {
				countries[countryCode(id)] += uint64(t.countriesN[j])
			}
		}
		for j, at := range t.networks {
			if at != 0 {
				networks[k.networks[at-1].prefix().String()] += uint64(t.networksN[j])
			}
		}
	}
	out.Day.TopDenials = dayReasons.top(3)
	out.TopCountries = countries.top(5)
	out.TopNetworks = networks.top(5)
	return out
}
