//go:build !linux

package main

import "errors"

func setReusePort(int) error {
	return errors.New("--reuse-port is supported on Linux only")
}
