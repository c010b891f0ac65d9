package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// licenseFile is packaged beside the binary when the repository has one.
const licenseFile = "LICENSE"

// maxBinarySize bounds what is read of an archived binary.
const maxBinarySize = 512 << 20

// archiveContents is what an archive was checked to hold.
type archiveContents struct {
	hasLicense bool
}

// inspectArchive opens the tar.gz at file and requires what krew will
// install from it: the regular file bin, built for goos/goarch (its
// executable format and machine type read from the binary, never trusted
// from the archive's name), and nothing else but an optional LICENSE.
func inspectArchive(file, bin, goos, goarch string) (archiveContents, error) {
	var got archiveContents
	f, err := os.Open(file)
	if err != nil {
		return got, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return got, fmt.Errorf("%s: not a gzip-compressed tar archive: %w", file, err)
	}
	tr := tar.NewReader(gz)
	var binary []byte
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, fmt.Errorf("%s: not a readable tar archive: %w", file, err)
		}
		name := path.Clean(hdr.Name)
		if seen[name] {
			return got, fmt.Errorf("%s: %s appears twice", file, name)
		}
		seen[name] = true
		switch name {
		case bin, licenseFile:
		default:
			return got, fmt.Errorf("%s: unexpected entry %q (an archive holds %s and optionally %s only)", file, hdr.Name, bin, licenseFile)
		}
		if hdr.Typeflag != tar.TypeReg {
			return got, fmt.Errorf("%s: %s is not a regular file (tar type %q)", file, name, hdr.Typeflag)
		}
		if name == licenseFile {
			got.hasLicense = true
			continue
		}
		if hdr.Size > maxBinarySize {
			return got, fmt.Errorf("%s: %s is %d bytes, more than %d", file, bin, hdr.Size, maxBinarySize)
		}
		if binary, err = io.ReadAll(io.LimitReader(tr, maxBinarySize)); err != nil {
			return got, fmt.Errorf("%s: %s: %w", file, bin, err)
		}
	}
	if binary == nil {
		return got, fmt.Errorf("%s: holds no regular file %s (krew installs that file)", file, bin)
	}
	if err := checkMachine(binary, goos, goarch); err != nil {
		return got, fmt.Errorf("%s: %s: %w", file, bin, err)
	}
	return got, nil
}

// machines are the machine types of each platform's executable format.
var (
	elfMachines   = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390}
	machoCPUs     = map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}
	peMachines    = map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64, "386": pe.IMAGE_FILE_MACHINE_I386}
	errNoPlatform = errors.New("no executable format known for this platform")
)

// checkMachine requires b to be an executable of goos/goarch.
func checkMachine(b []byte, goos, goarch string) error {
	r := bytes.NewReader(b)
	want := goos + "/" + goarch
	switch goos {
	case "linux", "freebsd", "openbsd", "netbsd":
		m, ok := elfMachines[goarch]
		if !ok {
			return fmt.Errorf("%s: %w", want, errNoPlatform)
		}
		f, err := elf.NewFile(r)
		if err != nil {
			return fmt.Errorf("not an ELF executable, as %s needs: %w", want, err)
		}
		if f.Machine != m {
			return fmt.Errorf("an ELF executable for %s, not %s (%s)", f.Machine, want, m)
		}
	case "darwin":
		cpu, ok := machoCPUs[goarch]
		if !ok {
			return fmt.Errorf("%s: %w", want, errNoPlatform)
		}
		f, err := macho.NewFile(r)
		if err != nil {
			return fmt.Errorf("not a Mach-O executable, as %s needs: %w", want, err)
		}
		if f.Cpu != cpu {
			return fmt.Errorf("a Mach-O executable for %s, not %s (%s)", f.Cpu, want, cpu)
		}
	case "windows":
		m, ok := peMachines[goarch]
		if !ok {
			return fmt.Errorf("%s: %w", want, errNoPlatform)
		}
		f, err := pe.NewFile(r)
		if err != nil {
			return fmt.Errorf("not a PE executable, as %s needs: %w", want, err)
		}
		if f.Machine != m {
			return fmt.Errorf("a PE executable for machine %#x, not %s (%#x)", f.Machine, want, m)
		}
	default:
		return fmt.Errorf("%s: %w", want, errNoPlatform)
	}
	return nil
}
