package controllers

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// VerifierGeoIPDir is where the volume of --verifier-geoip-claim or
// --verifier-geoip-volume is mounted: the verifier configuration's
// geoip.databasePath names a file there. The whole volume is mounted, never
// one file of it (subPath): geoipupdate replaces the database by renaming a
// new file over it, which a subPath mount would never show.
const VerifierGeoIPDir = "/var/lib/geoip"

// geoIPVolumes give the verifier the volume that holds its GeoIP database,
// read-only: a GeoLite2 database (about 9 MB for Country) does not fit a
// ConfigMap or Secret (1 MiB), so it comes from a volume the operator
// provides and an updater of theirs writes.
func (v VerifierDeployment) geoIPVolumes() ([]*corev1ac.VolumeApplyConfiguration, []*corev1ac.VolumeMountApplyConfiguration) {
	if v.GeoIP == nil {
		return nil, nil
	}
	volume, err := geoIPVolume(*v.GeoIP)
	if err != nil {
		// VerifierGeoIPSource was checked when the flags were parsed.
		panic(err)
	}
	return []*corev1ac.VolumeApplyConfiguration{volume},
		[]*corev1ac.VolumeMountApplyConfiguration{corev1ac.VolumeMount().WithName("geoip").WithMountPath(VerifierGeoIPDir).WithReadOnly(true)}
}

// geoIPVolume converts a volume source into its apply configuration, which
// has the same JSON form. A claim is attached read-only whatever its source
// said: the verifier only reads the database, and a claim of ReadOnlyMany
// access may be mounted only so.
func geoIPVolume(src corev1.VolumeSource) (*corev1ac.VolumeApplyConfiguration, error) {
	if src.PersistentVolumeClaim != nil {
		claim := *src.PersistentVolumeClaim
		claim.ReadOnly = true
		src.PersistentVolumeClaim = &claim
	}
	raw, err := json.Marshal(src)
	if err != nil {
		return nil, err
	}
	volume := corev1ac.Volume()
	if err := json.Unmarshal(raw, volume); err != nil {
		return nil, fmt.Errorf("the GeoIP volume source: %w", err)
	}
	return volume.WithName("geoip"), nil
}

// VerifierGeoIPSource checks a volume source for the GeoIP database: exactly
// one kind of source, as the API server requires of a volume.
func VerifierGeoIPSource(src corev1.VolumeSource) error {
	raw, err := json.Marshal(src)
	if err != nil {
		return err
	}
	var kinds map[string]json.RawMessage
	if err := json.Unmarshal(raw, &kinds); err != nil {
		return err
	}
	if len(kinds) != 1 {
		names := slices.Sorted(maps.Keys(kinds))
		return fmt.Errorf("a volume has exactly one source (persistentVolumeClaim, nfs, csi, ...), this one has %d %v", len(kinds), names)
	}
	_, err = geoIPVolume(src)
	return err
}
