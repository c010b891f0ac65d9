// Command kubectl-keyward is the kubectl plugin for keyward: `kubectl
// keyward` lists, creates, rotates and revokes API keys by name, prefix or
// key ID, with the user's own credentials. The commands live in this
// package's other files; main only runs them.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	os.Exit(Execute(os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
