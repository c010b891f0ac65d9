// Command run-local runs keyward on a throwaway local control plane (the
// envtest etcd and kube-apiserver), so a newcomer can try it without Docker,
// a cluster or internet access. `make run-local` builds bin/keyward and the
// CRDs first, then runs this from the repository root.
//
// Arguments after "--" go to `keyward manager`, for example
// `make run-local RUN_LOCAL_ARGS='-- --zap-log-level=debug'`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Paths relative to the repository root, where make runs this.
const (
	crdDir      = "config/crd/bases"
	samplesFile = "config/samples/"
	webhookDir  = "config/webhook"
	managerBin  = "bin/keyward"
	localDir    = "tmp/local"
)

// The install's namespaces (config/default): the manager's own, which
// `keyward manager` assumes outside a cluster, and the verifier's, which
// holds only the records, signing keys and usage reports.
const (
	managerNamespace  = "keyward-system"
	verifierNamespace = "keyward-verifier"
	samplesNamespace  = "default"
)

type options struct {
	samples     bool
	managerArgs []string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		return 2
	}
	// envtest logs through controller-runtime; without a logger it prints a
	// warning with a stack trace after 30 s. Errors reach the user anyway as
	// returned values, so only errors are logged.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))

	// Caught for the whole run, so a second Ctrl-C during shutdown cannot
	// kill this process and strand etcd and kube-apiserver, which envtest
	// starts in process groups of their own.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err = runLocal(sigCtx, o)
	switch {
	case err == nil:
		fmt.Println("stopped; nothing left running.")
		return 0
	case sigCtx.Err() != nil && !errors.Is(err, errChildExited):
		// The setup step's own error is only the echo of the interrupt.
		fmt.Fprintln(os.Stderr, "run-local: interrupted before keyward was ready; stopped everything.")
		return 130
	default:
		fmt.Fprintf(os.Stderr, "run-local: %v\n", err)
		return 1
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("run-local", flag.ContinueOnError)
	fs.BoolVar(&o.samples, "samples", true, "apply "+samplesFile+" and wait until its APIKeys are Ready")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./hack/run-local [--samples=false] [-- keyward manager flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.managerArgs = fs.Args()
	return o, nil
}

// runLocal sets everything up, waits for a signal or the manager's exit, and
// tears down in reverse order whatever it started, on every return path.
func runLocal(sigCtx context.Context, o options) error {
	if err := preflight(); err != nil {
		return err
	}
	assets, err := envtestAssets(sigCtx)
	if err != nil {
		return err
	}
	cp, err := startControlPlane(assets)
	if err != nil {
		return err
	}
	defer cp.stop()
	if err := sigCtx.Err(); err != nil {
		return err
	}

	kubeconfig, err := cp.writeAdminKubeconfig(localDir)
	if err != nil {
		return err
	}
	for _, ns := range []string{managerNamespace, verifierNamespace} {
		if err := cp.createNamespace(sigCtx, ns); err != nil {
			return err
		}
	}

	mgr, err := startManager(kubeconfig, cp.webhookArgs(), o.managerArgs)
	if err != nil {
		return err
	}
	defer mgr.stop()
	ver, err := startVerifier(kubeconfig)
	if err != nil {
		return err
	}
	defer ver.stop()
	// From here on every wait also ends when a child dies, so a crash shows
	// up as itself rather than as a timeout.
	ctx, cancel := context.WithCancelCause(sigCtx)
	defer cancel(nil)
	exited := make(chan *child, 2)
	for _, c := range []*child{mgr, ver} {
		go func() {
			<-c.done
			exited <- c
			cancel(errChildExited)
		}()
	}

	if err := setUp(ctx, cp, mgr, ver, kubeconfig, o); err != nil {
		if errors.Is(context.Cause(ctx), errChildExited) {
			return (<-exited).exitError()
		}
		return err
	}

	<-ctx.Done()
	if errors.Is(context.Cause(ctx), errChildExited) {
		return (<-exited).exitError()
	}
	fmt.Println()
	return nil
}

func setUp(ctx context.Context, cp *controlPlane, mgr, ver *child, kubeconfig string, o options) error {
	if err := mgr.waitReady(ctx); err != nil {
		return err
	}
	if err := ver.waitReady(ctx); err != nil {
		return err
	}
	k := kubectl{path: cp.kubectlPath(), kubeconfig: kubeconfig}
	if o.samples {
		if err := applySamples(ctx, k, cp); err != nil {
			return err
		}
	}
	printInstructions(kubeconfig, cp.assets, ver.apiAddr, ver.publicAddr, o.samples)
	return nil
}

// preflight catches the usual mistakes before anything is started, rather
// than after a control plane has come up for nothing.
func preflight() error {
	if _, err := os.Stat(crdDir); err != nil {
		return fmt.Errorf("%s not found (%w): run this from the repository root, best with `make run-local`, which generates the CRDs first", crdDir, err)
	}
	if _, err := os.Stat(managerBin); err != nil {
		return fmt.Errorf("%s not found (%w): run make run-local (it builds bin/keyward)", managerBin, err)
	}
	return nil
}
