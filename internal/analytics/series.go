package analytics

import "net/netip"

// The sizes that bound a key's memory (TestMemoryPerKey measures it).
const (
	minuteSlots   = 60 // the last hour, minute by minute
	hourSlots     = 48 // the last two days, hour by hour
	dayTopSlots   = 24 // the hourly top lists the day's summary reads
	knownCapacity = 8  // countries, and networks, a key is known in
)

// series is one key's history and baseline. Every field is fixed-size.
type series struct {
	key        string
	prev, next *series // least recently committed order (Store.lru)

	last      uint32 // the last minute committed
	firstUsed uint32 // the first minute with a verified request
	lastUsed  uint32 // the last minute with a verified request
	// usedDays has bit n set when the key was used n days (UTC) before
	// lastUsed's day, for the last 8 days.
	usedDays uint8

	minutes [minuteSlots]minuteSlot
	hours   [hourSlots]hourSlot
	tops    [dayTopSlots]hourTops

	volume    volumeBaseline
	denials   denialBaseline
	countries [knownCapacity]knownCountry
	networks  [knownCapacity]knownNetwork

	// detectors' memory, so that each fires once per event
	silenceReported  bool
	spikeReported    uint32 // the hour (index+1, 0 = none) of the last VolumeSpike
	denialReported   uint32 // minute of the last DenialSpike
	denialActionable bool   // whether it was actionable
}

// minuteSlot is one minute of the last hour. The rings carry no times:
// slot n holds the one minute (hour) of the ring's span before the key's
// last minute that is n modulo the ring's size, and advance empties the
// slots of the minutes and hours a commit skips.
type minuteSlot struct {
	permits  uint32
	denials  uint32
	reasons  [2]uint16 // the minute's top denial reasons (Store.reasons ids)
	reasonsN [2]uint16
}

// hourSlot is one clock hour of the last two days.
type hourSlot struct {
	permits uint32
	// verifiedDenials are all the denials of verified requests, the
	// Minute's VerifiedDenials and OtherDenials: a summary's to show.
	verifiedDenials   uint32
	unverifiedDenials uint32
}

// hourTops are one hour's top lists for the day's summary.
type hourTops struct {
	reasonsN   [3]uint32
	countriesN [2]uint32
	networksN  [2]uint32
	reasons    [3]uint16 // Store.reasons ids
	countries  [2]uint16 // countryID
	networks   [2]uint16 // index+1 into series.networks
}

// knownCountry is a country the key was used from.
type knownCountry struct {
	id       uint16 // countryID; 0 = free
	lastSeen uint32
}

// knownNetwork is a network the key was used from, kept as its bytes
// rather than a netip.Prefix, which would cost a third more.
type knownNetwork struct {
	addr     [16]byte
	bits     uint8 // 0 = free
	lastSeen uint32
}

func (n knownNetwork) prefix() netip.Prefix {
	a := netip.AddrFrom16(n.addr)
	if a.Is4In6() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(n.bits))
}

func networkEntry(p netip.Prefix) knownNetwork {
	return knownNetwork{addr: p.Addr().As16(), bits: uint8(p.Bits())}
}

// countryID packs a country code into two bytes.
func countryID(code string) uint16 { return uint16(code[0])<<8 | uint16(code[1]) }

func countryCode(id uint16) string { return string([]byte{byte(id >> 8), byte(id)}) }

// advance moves the rings on to minute i (after k.last), emptying the
// slots of the minutes and hours in between.
func (k *series) advance(i uint32) {
	emptySlots := func(from, to, slots uint32, empty func(uint32)) {
		if to-from >= slots {
			from = to - slots + 1
		}
		for n := from; n <= to; n++ {
			empty(n % slots)
		}
	}
	emptySlots(k.last+1, i, minuteSlots, func(n uint32) { k.minutes[n] = minuteSlot{} })
	if h, last := hourOf(i), hourOf(k.last); h > last || k.last == 0 {
		emptySlots(last+1, h, hourSlots, func(n uint32) { k.hours[n] = hourSlot{} })
		emptySlots(last+1, h, dayTopSlots, func(n uint32) { k.tops[n] = hourTops{} })
	}
	k.last = i
}

// minuteHeld reports whether the minute ring holds minute i.
func (k *series) minuteHeld(i uint32) bool { return i <= k.last && k.last-i < minuteSlots }

// hourHeld reports whether a ring of that many hours holds hour h.
func (k *series) hourHeld(h, slots uint32) bool {
	last := hourOf(k.last)
	return k.last != 0 && h <= last && last-h < slots
}

// hourPermits is hour h's permits, 0 if the ring no longer (or never) held it.
func (k *series) hourPermits(h uint32) uint32 {
	if !k.hourHeld(h, hourSlots) {
		return 0
	}
	return k.hours[h%hourSlots].permits
}

// hourVerified is hour h's verified requests, permitted or denied; 0 if
// the ring no longer (or never) held it.
func (k *series) hourVerified(h uint32) uint64 {
	if !k.hourHeld(h, hourSlots) {
		return 0
	}
	slot := k.hours[h%hourSlots]
	return uint64(slot.permits) + uint64(slot.verifiedDenials)
}

// used reports whether the key ever had a verified request.
func (s *series) used() bool { return s.firstUsed != 0 }
