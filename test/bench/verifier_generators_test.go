package bench

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/keyward-dev/keyward/test/bench/loadspec"
)

// generator is a load generator the verifier benchmark measures with: its
// own Go one, and wrk. Every figure says which one it came from.
type generator interface {
	label() string
	// drive runs a target: closed loop when rate is 0, else at rate;
	// profile, when not "", is where a CPU profile of the server goes.
	drive(b *testing.B, name string, s loadspec.Spec, rate float64, profile string) loadResult
}

func (l loadgen) label() string { return "go" }

func (l loadgen) drive(b *testing.B, name string, s loadspec.Spec, rate float64, profile string) loadResult {
	return l.run(b, name, s, rate, profile)
}

func (w *wrk) label() string { return "wrk" }

func (w *wrk) drive(b *testing.B, name string, s loadspec.Spec, rate float64, profile string) loadResult {
	return w.run(b, name, s, rate, profile)
}

// alternate is the order of the generators in a round: the other way
// round every second round, so neither always runs on a machine the other
// just warmed or heated.
func alternate(gens []generator, round int) []generator {
	if round%2 == 0 {
		return gens
	}
	back := slices.Clone(gens)
	slices.Reverse(back)
	return back
}

// target is one closed-loop run of the verifier benchmark.
type target struct {
	tag, name string
	spec      loadspec.Spec
}

// legitimateRate is the request rate of a key's own client during a flood
// of wrong secrets for its key ID: a client's modest rate, which it must
// keep.
const legitimateRate = 200

// wrongSecretResult is one generator's wrong-secret flood: the key's own
// client alone, the flood, and the client during the flood.
type wrongSecretResult struct {
	alone, flood, attacked *loadResult
	hashes                 int64
}

func newWrongSecretResult(gen string) *wrongSecretResult {
	return &wrongSecretResult{
		alone:    &loadResult{name: gen + ": key's client alone, 200 req/s"},
		flood:    &loadResult{name: gen + ": wrong-secret flood, closed loop"},
		attacked: &loadResult{name: gen + ": key's client during that flood"},
	}
}

// round measures the client alone, then the client and the flood at once.
func (r *wrongSecretResult) round(b *testing.B, g generator, flood, client loadspec.Spec) {
	r.alone.add(g.drive(b, r.alone.name, client, legitimateRate, ""))
	var wg sync.WaitGroup
	var attacked loadResult
	wg.Go(func() { attacked = g.drive(b, r.attacked.name, client, legitimateRate, "") })
	r.flood.add(g.drive(b, r.flood.name, flood, 0, ""))
	wg.Wait()
	r.attacked.add(attacked)
}

func (r *loadResult) median() float64 {
	if len(r.perRound) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(r.perRound))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// printMedians prints every ratio the issue asks for, per generator, from
// the medians of the rounds.
func printMedians(gens []generator, peaks map[string]map[string]*loadResult, hashes map[*loadResult]int64,
	opens map[string][2]*loadResult, attacks map[string]*wrongSecretResult, rounds int) {
	fmt.Printf("  Medians of %d rounds, by load generator (each ratio against the same generator's hello):\n", rounds)
	fmt.Printf("  %-44s", "")
	for _, g := range gens {
		fmt.Printf(" %14s %10s", g.label()+" req/s", g.label()+" ratio")
	}
	fmt.Println()
	row := func(label, goal string, value func(g generator) (float64, float64)) {
		fmt.Printf("  %-44s", label)
		for _, g := range gens {
			v, ratio := value(g)
			fmt.Printf(" %14.0f %10.3f", v, ratio)
		}
		fmt.Printf("  %s\n", goal)
	}
	against := func(tag, base string) func(g generator) (float64, float64) {
		return func(g generator) (float64, float64) {
			p := peaks[g.label()]
			return p[tag].median(), p[tag].median() / p[base].median()
		}
	}
	peak := func(tag string) func(g generator) (float64, float64) { return against(tag, "hello") }
	row("hello", "", peak("hello"))
	row("hello + a permit's headers ÷ hello", "(the floor of any permit)", peak("headers"))
	row("cached ÷ hello", "(goal ≥ 0.9)", peak("cached"))
	row("full pipeline ÷ hello", "(goal ≥ 0.85)", peak("pipeline"))
	row("pipeline + token bucket ÷ hello", "", peak("limited"))
	row("hello, random keys ÷ hello", "(the floods' baseline)", peak("helloKeys"))
	row("random-key flood ÷ hello, random keys", "(goal ≥ 0.95)", against("flood", "helloKeys"))
	row("wrong-secret flood ÷ hello, random keys", "", func(g generator) (float64, float64) {
		a := attacks[g.label()]
		return a.flood.median(), a.flood.median() / peaks[g.label()]["helloKeys"].median()
	})
	row("key's client during the flood ÷ alone", "(goal ≥ 0.9)", func(g generator) (float64, float64) {
		a := attacks[g.label()]
		return a.attacked.median(), a.attacked.median() / a.alone.median()
	})
	for _, g := range gens {
		p, a, o := peaks[g.label()], attacks[g.label()], opens[g.label()]
		fmt.Printf("  %s: PBKDF2 hashes: random-key flood %d (goal 0), wrong-secret flood %d; "+
			"p99 at half of hello's peak (%.0f req/s): hello %s, full pipeline %s, ratio %.2f (goal ≤ 1.2)\n",
			g.label(), hashes[p["flood"]], a.hashes, p["hello"].rps()/2, o[0].quantile(0.99), o[1].quantile(0.99),
			float64(o[1].quantile(0.99))/float64(o[0].quantile(0.99)))
	}
	fmt.Printf("  (wrk has no open loop: at a rate its connections wait their share of the interval, and a slow\n" +
		"   answer delays the next request, so its p99 there is kinder than an open loop's)\n\n")
}
