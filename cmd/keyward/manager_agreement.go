package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/verifier"
)

// The verifier the manager deploys reads its settings from its ConfigMap,
// the manager from its flags; where the two must agree (where the
// activity is, whether a GeoIP volume is used), a disagreement would not
// fail anywhere: status.usage would stay empty, or the database would be
// missing. So the manager refuses to start on one, naming its flags.

// checkVerifierFlags refuses what the manager's flags contradict by
// themselves: settings for a verifier configuration there is none of.
func checkVerifierFlags(v verifierFlags, u usageFlags) error {
	if !v.deploy || v.configMap != "" {
		return nil
	}
	if u.aggregation == usageRedis {
		return fmt.Errorf("--usage-aggregation=redis, but the verifier the manager deploys has no configuration (--verifier-config-map), so it reports its activity with analytics.aggregation: embedded; give it a configuration with analytics.aggregation: redis and rateLimits.store: redis, or --usage-aggregation=embedded")
	}
	if flag := v.geoIPFlag(); flag != "" {
		return fmt.Errorf("%s mounts a GeoIP database at %s, but the verifier the manager deploys has no configuration (--verifier-config-map) to name it in geoip.databasePath", flag, controllers.VerifierGeoIPDir)
	}
	return nil
}

// geoIPFlag is the flag that gives the verifier a GeoIP volume, "" for
// none.
func (f verifierFlags) geoIPFlag() string {
	switch {
	case f.geoIPClaim != "":
		return "--verifier-geoip-claim"
	case f.geoIPVolume != "":
		return "--verifier-geoip-volume"
	}
	return ""
}

// readVerifierConfig reads the deployed verifier's configuration from its
// ConfigMap, directly from the API server: the manager's cache is not
// started yet, and holds no such ConfigMap.
func readVerifierConfig(ctx context.Context, cfg *rest.Config, namespace, name string) ([]byte, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
		return nil, fmt.Errorf("reading the verifier's configuration (--verifier-config-map %s in %s): %w", name, namespace, err)
	}
	content, ok := cm.Data[controllers.VerifierConfigKey]
	if !ok {
		return nil, fmt.Errorf("the verifier's configuration (--verifier-config-map %s in %s) has no key %s", name, namespace, controllers.VerifierConfigKey)
	}
	return []byte(content), nil
}

// checkDeployedVerifierConfig reads the configuration of the verifier the
// manager deploys and checks it against the manager's flags.
func checkDeployedVerifierConfig(cfg *rest.Config, o managerOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	content, err := readVerifierConfig(ctx, cfg, o.verifierNamespace, o.verifier.configMap)
	if err != nil {
		return err
	}
	return checkVerifierAgreement(o.verifier, o.usage, content)
}

// checkVerifierAgreement refuses a verifier configuration that contradicts
// the manager's flags: where the activity goes (--usage-aggregation,
// --usage-redis-address, --usage-redis-db, --usage-redis-prefix) and
// whether it names a file of its GeoIP volume (--verifier-geoip-*).
func checkVerifierAgreement(v verifierFlags, u usageFlags, content []byte) error {
	where := fmt.Sprintf("the verifier's configuration (--verifier-config-map %s, key %s)", v.configMap, controllers.VerifierConfigKey)
	config, err := verifier.ParseConfig(content)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	sink, err := config.ActivitySink()
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	switch {
	case sink.Aggregation == "":
		// Analytics off: the aggregator reads nothing, wherever it looks.
	case sink.Aggregation != u.aggregation:
		return fmt.Errorf("--usage-aggregation=%s, but %s says analytics.aggregation: %s: the manager would read the activity where the verifiers never write it; set both to the same", u.aggregation, where, sink.Aggregation)
	case sink.Aggregation == usageRedis:
		for _, c := range []struct {
			flag                   string
			flagValue, configValue any
			field                  string
		}{
			{"--usage-redis-address", u.redisAddress, sink.RedisAddress, "rateLimits.redis.address"},
			{"--usage-redis-db", u.redisDB, sink.RedisDB, "rateLimits.redis.db"},
			{"--usage-redis-prefix", u.redisPrefix, sink.RedisPrefix, "rateLimits.redis.prefix"},
		} {
			if c.flagValue != c.configValue {
				return fmt.Errorf("%s=%v, but %s has %s %v: the manager must read the activity from the Redis database and prefix the verifiers write it to", c.flag, c.flagValue, where, c.field, c.configValue)
			}
		}
	}
	path := config.GeoIP.DatabasePath
	inVolume := strings.HasPrefix(path, controllers.VerifierGeoIPDir+"/")
	switch flag := v.geoIPFlag(); {
	case flag != "" && !inVolume:
		return fmt.Errorf("%s mounts a GeoIP database at %s, but %s has geoip.databasePath %q: name the database's file there", flag, controllers.VerifierGeoIPDir, where, path)
	case flag == "" && inVolume:
		return fmt.Errorf("%s has geoip.databasePath %q, but no volume is mounted at %s: give its volume with --verifier-geoip-claim or --verifier-geoip-volume", where, path, controllers.VerifierGeoIPDir)
	}
	return nil
}
