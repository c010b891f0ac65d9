package analytics

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// NewLocation flags a key used from a country or network it was never
// seen in. Countries and networks seen in the key's first
// Params.NewLocationWarmUp of use are its own; later ones are new:
//
//   - ImpossibleTravel: a new country whose distance (between country
//     centroids, see centroids.go) from a country the key was seen in is
//     more than Params.TravelSpeedKmh allows for the time since: the key
//     is in two places at once. Countries closer than an hour of travel
//     never count, nor do two countries the key is known in (a key used
//     from two offices is not travelling).
//   - NewCountry: otherwise, a new country.
//   - NewNetwork: a new network (see NetworkOf) in a minute without a new
//     country.
//
// A key knows at most knownCapacity countries and as many networks,
// forgetting the least recently seen. A key that fills either set is used
// from too many places to leave them: it is not flagged for that kind any
// more. One finding per minute, the first of the list above that applies.
// Only verified requests carry a location.
func (k *series) locate(i uint32, m Minute, p Params) (Finding, bool) {
	if m.Verified() == 0 {
		return Finding{}, false
	}
	learning := since(k.firstUsed, i) < p.NewLocationWarmUp
	var fresh []uint16
	for _, c := range m.Countries {
		id := countryID(c.Value)
		if at := k.knownCountry(id); at >= 0 {
			k.countries[at].lastSeen = i
		} else if !slices.Contains(fresh, id) {
			fresh = append(fresh, id)
		}
	}
	watched := !learning && k.countriesKnown() < knownCapacity
	var found Finding
	var ok bool
	if len(fresh) > 0 && watched {
		found, ok = k.newCountry(i, fresh, p)
	}
	for _, id := range fresh {
		k.countries[k.freeCountry()] = knownCountry{id: id, lastSeen: i}
	}

	var freshNets []netip.Prefix
	for _, n := range m.Networks {
		prefix, err := netip.ParsePrefix(n.Value)
		if err != nil {
			continue // Validate refuses it
		}
		if at := k.knownNetwork(prefix); at >= 0 {
			k.networks[at].lastSeen = i
		} else if !slices.Contains(freshNets, prefix) {
			freshNets = append(freshNets, prefix)
		}
	}
	if len(freshNets) > 0 && !ok && !learning && k.networksKnown() < knownCapacity {
		found, ok = Finding{
			Detector: NewLocation, Reason: NewNetwork, At: timeOf(i), Actionable: true,
			Message: fmt.Sprintf("Key used from network %s at %s (never seen before; seen: %s)",
				prefixList(freshNets), clock(i), k.networkList()),
		}, true
	}
	for _, prefix := range freshNets {
		at := k.freeNetwork()
		k.networks[at] = networkEntry(prefix)
		k.networks[at].lastSeen = i
	}
	return found, ok
}

// newCountry is ImpossibleTravel or NewCountry for countries not known.
func (k *series) newCountry(i uint32, fresh []uint16, p Params) (Finding, bool) {
	seen := k.countryList()
	for _, id := range fresh {
		for _, known := range k.countries {
			if known.id == 0 {
				continue
			}
			km, ok := distanceKm(id, known.id)
			if !ok || km < p.TravelSpeedKmh {
				continue // unknown centroid, or less than an hour apart
			}
			need := time.Duration(km / p.TravelSpeedKmh * float64(time.Hour))
			if elapsed := since(known.lastSeen, i); elapsed < need {
				return Finding{
					Detector: NewLocation, Reason: ImpossibleTravel, At: timeOf(i), Actionable: true,
					Message: fmt.Sprintf("Key used from %s at %s, %s after %s, %.0f km away (at least %s at %.0f km/h; seen: %s)",
						countryCode(id), clock(i), elapsed, countryCode(known.id), km,
						need.Round(time.Minute), p.TravelSpeedKmh, seen),
				}, true
			}
		}
	}
	codes := make([]string, len(fresh))
	for n, id := range fresh {
		codes[n] = countryCode(id)
	}
	return Finding{
		Detector: NewLocation, Reason: NewCountry, At: timeOf(i), Actionable: true,
		Message: fmt.Sprintf("Key used from %s at %s (never seen before; seen: %s)",
			strings.Join(codes, ", "), clock(i), seen),
	}, true
}

func (k *series) knownCountry(id uint16) int {
	for n, c := range k.countries {
		if c.id == id {
			return n
		}
	}
	return -1
}

func (k *series) countriesKnown() int {
	n := 0
	for _, c := range k.countries {
		if c.id != 0 {
			n++
		}
	}
	return n
}

// freeCountry is a free slot, or the least recently seen one's.
func (k *series) freeCountry() int {
	oldest := 0
	for n, c := range k.countries {
		if c.id == 0 {
			return n
		}
		if c.lastSeen < k.countries[oldest].lastSeen {
			oldest = n
		}
	}
	return oldest
}

func (k *series) countryList() string {
	var codes []string
	for _, c := range k.countries {
		if c.id != 0 {
			codes = append(codes, countryCode(c.id))
		}
	}
	if len(codes) == 0 {
		return "none"
	}
	slices.Sort(codes)
	return strings.Join(codes, ", ")
}

func (k *series) knownNetwork(p netip.Prefix) int {
	entry := networkEntry(p)
	for n, known := range k.networks {
		if known.bits != 0 && known.addr == entry.addr && known.bits == entry.bits {
			return n
		}
	}
	return -1
}

func (k *series) networksKnown() int {
	n := 0
	for _, known := range k.networks {
		if known.bits != 0 {
			n++
		}
	}
	return n
}

// freeNetwork is a free slot, or the least recently seen one's, whose
// counts in the day's top lists go with it.
func (k *series) freeNetwork() int {
	oldest := 0
	for n, known := range k.networks {
		if known.bits == 0 {
			return n
		}
		if known.lastSeen < k.networks[oldest].lastSeen {
			oldest = n
		}
	}
	for t := range k.tops {
		for j, id := range k.tops[t].networks {
			if int(id) == oldest+1 {
				k.tops[t].networks[j], k.tops[t].networksN[j] = 0, 0
			}
		}
	}
	return oldest
}

func (k *series) networkList() string {
	var nets []netip.Prefix
	for _, known := range k.networks {
		if known.bits != 0 {
			nets = append(nets, known.prefix())
		}
	}
	if len(nets) == 0 {
		return "none"
	}
	return prefixList(nets)
}

func prefixList(nets []netip.Prefix) string {
	s := make([]string, len(nets))
	for n, p := range nets {
		s[n] = p.String()
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// distanceKm is the great-circle distance between two countries'
// centroids; false when either is not in the table.
func distanceKm(a, b uint16) (float64, bool) {
	ca, okA := centroids[countryCode(a)]
	cb, okB := centroids[countryCode(b)]
	if !okA || !okB {
		return 0, false
	}
	const earthKm = 6371
	rad := math.Pi / 180
	lat1, lat2 := ca[0]*rad, cb[0]*rad
	dLat, dLon := (cb[0]-ca[0])*rad, (cb[1]-ca[1])*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Sqrt(min(1, h))), true
}
