package usageanalytics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// embedded is the installation with the embedded aggregation, shared by
// the package's tests; the Redis test starts one of its own.
var (
	embedded  *stack
	geoIPPath string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "keyward-analytics-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	geoIPPath = filepath.Join(dir, "GeoLite2-Country.mmdb")
	if err := testutil.WriteGeoIPFile(geoIPPath, "GeoLite2-Country", geography); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// TestMain has no test to fail: a failed start ends the run.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "starting the installation:", r)
			code = 1
		}
	}()
	g := NewGomega(func(message string, _ ...int) { panic(message) })
	embedded = startStack(ctx, g, env, stackOptions{geoIPPath: geoIPPath})
	return m.Run()
}
