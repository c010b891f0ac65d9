package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

func usageFromFlags(t *testing.T, args ...string) (manager.UsageOptions, error) {
	t.Helper()
	f := &usageFlags{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	f.bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.options()
}

func TestUsageFlagsDefault(t *testing.T) {
	g := NewWithT(t)
	o, err := usageFromFlags(t)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.Interval).To(Equal(time.Minute))
	g.Expect(o.Params).To(Equal(analytics.DefaultParams()))
	g.Expect(o.Redis).To(BeNil(), "embedded by default")
	g.Expect(o.MaxKeys).To(Equal(20_000))
	g.Expect(o.MaxWritesPerPass).To(Equal(200))

	o, err = usageFromFlags(t, "--anomaly-denial-min-count=7", "--anomaly-warm-up=24h", "--usage-interval=2m", "--usage-max-writes-per-pass=50")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.MaxWritesPerPass).To(Equal(50))
	g.Expect(o.Params.DenialMinCount).To(Equal(uint32(7)))
	g.Expect(o.Params.WarmUp).To(Equal(24 * time.Hour))
	g.Expect(o.Interval).To(Equal(2 * time.Minute))
}

func TestUsageFlagsRefuseWhatCannotWork(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--usage-aggregation=kafka"}, `--usage-aggregation must be "embedded" or "redis", not "kafka"`},
		{[]string{"--usage-aggregation=redis"}, "--usage-aggregation=redis needs --usage-redis-address"},
		{[]string{"--usage-redis-address=redis:6379"}, `--usage-redis-address is set but --usage-aggregation is "embedded"`},
		{[]string{"--usage-interval=1s"}, "--usage-interval must be at least 10s, not 1s"},
		{[]string{"--usage-close-after=0s"}, "--usage-close-after must be positive"},
		{[]string{"--usage-max-keys=0"}, "--usage-max-keys must be positive"},
		{[]string{"--usage-max-writes-per-pass=-1"}, "--usage-max-writes-per-pass must be positive, not -1"},
		{[]string{"--anomaly-denial-min-count=99999999999"}, "--anomaly-denial-min-count 99999999999 is too large"},
		{[]string{"--usage-aggregation=redis", "--usage-redis-address=redis:6379", "--usage-redis-prefix="}, "--usage-redis-prefix must not be empty"},
		{[]string{"--usage-aggregation=redis", "--usage-redis-address=redis:6379", "--usage-interval=13m"}, "read a minute up to 14m30s after it began, but Redis keeps the activity only 15m0s"},
		{[]string{"--usage-aggregation=redis", "--usage-redis-address=redis:6379", "--usage-redis-password-file=" + empty}, "--usage-redis-password-file: " + empty + " is empty"},
		{[]string{"--usage-aggregation=redis", "--usage-redis-address=redis:6379", "--usage-redis-key-file=" + empty}, "--usage-redis TLS files: certFile: required with keyFile"},
	} {
		_, err := usageFromFlags(t, c.args...)
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring(c.want)), "%v", c.args)
	}
}

// The Redis aggregation's client reaches the Redis the flags name, with
// its password.
func TestUsageFlagsConnectToRedis(t *testing.T) {
	g := NewWithT(t)
	server := testutil.StartRedisServerWith(t, testutil.RedisServerOptions{Password: "s3cret-pass"})
	file := filepath.Join(t.TempDir(), "password")
	g.Expect(os.WriteFile(file, []byte("s3cret-pass\n"), 0o600)).To(Succeed())
	o, err := usageFromFlags(t, "--usage-aggregation=redis", "--usage-redis-address="+server.Addr(), "--usage-redis-password-file="+file)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.RedisPrefix).To(Equal("keyward:rl:"))
	g.Expect(o.Redis.Ping(context.Background()).Err()).To(Succeed())
}
