// Package access decides whether a request's environment meets the access
// conditions of a key: where the request comes from (source address, named
// network class, country), when it is made (time-of-day windows in a time
// zone, on chosen weekdays) and from what (a compliant device).
//
// It is pure: the manager copies conditions into key records, the verifier
// compiles them once per record version and checks them per request, and the
// admission policy compares a delegated key's conditions with its parent's.
// There is one implementation of each rule.
//
// # Compiling
//
// [Compile] reads a [Conditions] once and reports everything wrong with it
// at the same time, each problem naming its field ("timeWindows[1].timeZone").
// A record whose conditions do not compile is refused by both sides: a
// condition nobody can read must not silently allow or deny. The zero
// Conditions compiles to conditions that allow every environment.
//
// # Checking
//
// [Compiled.Check] tests the conditions in a fixed order and returns the
// first that fails: source CIDRs, networks, countries, time windows, device.
// The order is part of the contract because the verifier reports exactly
// one deny reason. Check does not allocate. Every condition fails closed:
// what the request does not tell (an unknown address, country, time or
// device) fails every condition that needs it.
//
// Source CIDRs: the client address must lie in one of the networks. An
// IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address it maps,
// in the request and in the networks alike, so "192.0.2.0/24" and
// "::ffff:192.0.2.0/120" mean the same. Otherwise IPv4 networks hold only
// IPv4 addresses and IPv6 networks only IPv6 ones: "::/0" admits no IPv4
// client. An IPv6 zone ("%eth0") is ignored.
//
// Networks: the verifier's configuration names classes of CIDRs
// ([ParseClasses]), and a key lists the classes it may be used from. Without
// an asserted network, the request must come from an address in one of the
// key's classes. A caller may assert a class (Environment.Network, from a
// trusted header); the asserted class must be one of the key's, and when the
// address is known it must lie in that class too, so that an assertion the
// address contradicts, or that names a class the configuration cannot
// confirm, fails. An asserted class is taken on trust only when the address
// is unknown.
//
// Countries: ISO 3166-1 alpha-2 codes, upper case in the conditions; the
// request's country (from a trusted header) is compared without regard to
// ASCII case. An unknown country fails.
//
// Time windows: a window opens at Start and closes before End, in wall-clock
// time of its zone, on each of its Days (every day when Days is empty). A
// window whose End is before its Start wraps past midnight and belongs to
// the day it opens on: a Friday 22:00–02:00 window admits Saturday 01:00 but
// not Friday 01:00. The request time is converted into the window's zone
// and compared by wall clock, minute by minute, so daylight saving time
// moves a window with the local clock: on the night clocks go forward, a
// window inside the skipped hour never opens, and on the night they go
// back, the repeated hour is inside a window twice. A zero request time
// fails.
//
// Device: only a device a trusted header reports as compliant passes.
//
// # Delegation
//
// [AtLeastAsStrict] tells whether a delegated key's conditions admit no
// request its parent's would refuse. It is conservative: what it cannot
// prove narrower (a time window in another time zone, a value that does not
// parse) it reports.
package access
