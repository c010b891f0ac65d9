// Package ratelimit decides whether a request may consume from the limits
// that apply to it: fixed windows (billing-style quotas), sliding windows,
// token buckets and calendar quotas that refill daily or monthly, each
// request weighted by a cost. It is pure: the verifier wires it to keys, and
// a Store keeps the counters (in memory with a hard cap, or in Redis for
// many verifier replicas).
//
// # One bucket
//
// [Take] is the whole rule of one bucket: a function of a [Limit], the
// bucket's [State], the time and a cost. Stores keep States and apply Take
// under a lock (or its transcription into a script), and the step tables in
// the tests hold every Store to the same answers.
//
// A bucket is named by the request's Key together with the limit's Name,
// Strategy and Period (and Refill and Location for a Quota): one key with a
// per-second and a per-day limit has two buckets, and a limit shared by all
// keys of an owner is a request whose Key names the owner (the verifier
// names it within the key's namespace, so owners never mix across teams). Limit and Burst
// are not part of the name, so raising or lowering a limit applies to what
// was already spent.
//
// Time is the caller's: now is a parameter, from 1970 to 2199. Goroutines
// that read the clock before waiting for a lock arrive out of order; a now
// earlier than the bucket's own time counts as the bucket's time, so nothing
// is refilled twice or rolled back.
//
// # Strategies
//
// FixedWindow counts cost per window of Period aligned to the Unix epoch
// (a 24h window is a UTC day; a Quota follows a time zone). A client may
// spend the limit at the end of one window and again at the start of the
// next: up to twice the limit within one Period across a boundary.
//
// SlidingWindow never admits more than Limit in any window of Period, at
// any offset. It is not the weighted two-window approximation (the previous
// window's count scaled by how much of it still overlaps): that assumes
// the previous window's requests were spread evenly, and a client that
// spends its limit at the end of one window can then spend up to nearly
// as much again in the next Period, the fixed window's 2× in a smoother
// form. Instead the window is a ring of [SlidingSlots] (32) counters, each
// covering a slot of ceil(Period/31). A request fits when its cost and
// the counters of every slot from the one holding now−Period up to now
// stay within Limit; the oldest slot counts whole, though part of it is
// already outside the window. So the count never misses an admission
// inside the window, which is the guarantee;
// the price is that an admitted cost is forgotten between Period and
// Period + Period/31 after it was spent, never earlier and never later
// than one slot late. Against an exact sliding log this refuses at most
// what the oldest slot holds; under sustained overload it admits at least
// Limit × 31/32 (96.9 %) per Period, and in the tests 96.9–100 % of what
// the exact log admits. Its state is 32 counters (256 bytes) per bucket.
//
// TokenBucket adds Limit tokens per Period up to a capacity of Burst
// (Limit when 0), starting full; a request spends its cost in tokens. The
// arithmetic is exact: the tokens missing from a full bucket are kept as
// Count − Frac/Period, refilling adds elapsed·Limit in units of 1/Period
// of a token with 128-bit intermediates, so over n Periods a bucket
// receives exactly n·Limit tokens, whatever the ratio: no drift.
// In any span w it admits at most Burst + Limit·w/Period.
//
// Quota is a budget of Limit per calendar day or month in Location (UTC
// when nil), refilled at the period's first instant: 00:00 on the day, or
// the 1st of the month, in that zone. Days are 23 or 25 hours when the
// clocks change; where a change skips midnight the day begins at the end
// of the gap, and where midnight happens twice, at the first. Months have
// their own lengths, leap Februaries included.
//
// # Costs
//
// Each request spends its Cost (0 reads a bucket without spending). A cost
// above the limit's [Limit.Capacity] can never be admitted, so it is an
// error, [ErrCostExceedsCapacity], rather than a refusal with a RetryAfter
// that would never come true. Limit, Burst and costs are at most
// [MaxLimit], Period and the time to refill a token bucket at most
// [MaxPeriod]; [Limit.Validate] names the field at fault.
//
// # Several limits, one answer
//
// Store.TakeAll is all or nothing across its requests: a request over its
// per-day quota spends nothing from its per-second allowance either.
// Requests on the same bucket in one call add up. Each Result describes one
// request's limit: Allowed says whether that limit (with the costs before
// it on the same bucket) would have admitted it, Remaining what is left
// after the call (nothing is spent when any request is refused), Reset when
// the bucket is full again, RetryAfter when a refused cost would fit.
//
// What to tell the client is the caller's to decide: typically refuse when
// any Result is not Allowed, with Retry-After the largest RetryAfter among
// those, and rate-limit headers from the Result with the least Remaining
// (its Limit.Capacity as the limit, its Reset as the reset).
//
// # MemoryStore
//
// [MemoryStore] keeps buckets in process memory under a hard cap,
// [MemoryOptions].MaxBuckets, split evenly over independently locked
// shards; a call locks the shards it touches in ascending order. A bucket
// is stored as a 64-bit hash of its name under a per-process random seed,
// not the key itself: memory per bucket is fixed (about 80 bytes, plus 256
// for a sliding window's ring) whatever the keys' length, and nothing in
// the store holds a pointer for the garbage collector to scan. Places freed
// by eviction are reused, so ten times the cap in distinct keys leaves the
// heap where the cap left it. Two names share a bucket by accident with
// probability about n²/2⁶⁵ for n buckets; nobody can aim for one without
// the seed.
//
// Eviction rule: only a bucket that holds nothing any more may be evicted,
// one that would decide exactly as a new bucket would (its window is over,
// its tokens are back, its slots have left the window), and among those
// the one that has been so the longest. Evicting such a bucket changes no
// decision, so no flood of new keys can reset anybody's limit. When a new
// bucket is needed, its shard is at its share of the cap and no bucket
// there is evictable, the call fails with [ErrFull], spends nothing, and
// says when the earliest bucket will be evictable; known keys go on being
// served by their own limits.
//
// The trade-off is availability for new keys under a flood: whoever keeps
// every bucket busy (at least one request per bucket per period, and a
// daily quota is busy all day after one request) locks out keys the store
// has not seen, fail-closed, rather than being able to buy someone's limit
// back by spending memory. Size MaxBuckets above the keys, owners and
// sources expected within the longest period, and give a limiter with many
// untrusted identities (the per-source limiter in front of key hashing) a
// store of its own with short periods, whose buckets turn evictable within
// seconds. Shares fill unevenly, so a shard refuses at about 95 % of the
// cap when nothing is evictable. [MemoryStore.Buckets],
// [MemoryStore.Evictions] and [MemoryStore.Refusals] are for metrics.
//
// [MemoryStore.AppendTakeAll] appends to a caller's slice and allocates
// nothing.
package ratelimit
