// Command keyward is keyward's one binary: `keyward manager` runs the
// controllers; `keyward verifier` enforces keys on traffic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `usage: keyward <command> [flags]

commands:
  manager    run the controllers, the admission webhooks, metrics and health probes
  verifier   enforce keys on traffic: decision API, forward-auth for proxies
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "manager":
		err = runManager(os.Args[2:])
	case "verifier":
		err = runVerifier(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "keyward: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		// --help printed the flags; that is not a failure.
	case err != nil:
		fmt.Fprintf(os.Stderr, "keyward %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
