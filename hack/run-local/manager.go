package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errChildExited: the manager or the verifier stopped without being asked.
var errChildExited = errors.New("exited")

const (
	childReadyTimeout = 60 * time.Second
	childStopTimeout  = 10 * time.Second
)

// child is `keyward manager` or `keyward verifier` running as a child
// process, exactly as it runs in a cluster, rather than in-process: what the
// user watches in its log is the real binary's behaviour.
type child struct {
	name    string // "manager" or "verifier"
	cmd     *exec.Cmd
	log     string
	readyz  string
	done    chan struct{}
	waitErr error // valid once done is closed
	// apiAddr is where the verifier serves decisions and forward-auth,
	// publicAddr its OAuth endpoints ("" for the manager).
	apiAddr, publicAddr string
}

func startManager(kubeconfig string, webhookArgs, extraArgs []string) (*child, error) {
	probeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the manager's health probes: %w", err)
	}
	args := append([]string{"manager",
		"--verifier-namespace=" + verifierNamespace,
		// The control plane has no kubelet to run a verifier Deployment;
		// run-local runs the verifier as a process of its own.
		"--deploy-verifier=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + probeAddr,
		"--zap-log-level=info",
	}, append(webhookArgs, extraArgs...)...)
	return startChild("manager", kubeconfig, args, probeAddr)
}

func startChild(name, kubeconfig string, args []string, probeAddr string) (*child, error) {
	logPath := filepath.Join(localDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	// The child holds its own descriptor; ours is not needed after Start.
	defer logFile.Close()
	cmd := exec.Command(managerBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Out of the terminal's process group, like envtest's etcd and
	// kube-apiserver: Ctrl-C reaches only this program, which then stops
	// the children before the API server they talk to. (envtest itself is
	// Unix-only, so Setpgid costs no portability.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", managerBin, name, err)
	}
	m := &child{name: name, cmd: cmd, log: logPath, readyz: "http://" + probeAddr + "/readyz", done: make(chan struct{})}
	go func() {
		m.waitErr = cmd.Wait()
		close(m.done)
	}()
	fmt.Printf("started the keyward %s (pid %d); its log: tail -f %s\n", name, cmd.Process.Pid, logPath)
	return m, nil
}

// freeLoopbackAddr asks the kernel for an unused port. Another process could
// take it before the child binds it, which on a developer machine is rare
// enough; the child would then exit and say so in its log.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), nil
}

func (m *child) waitReady(ctx context.Context) error {
	fmt.Printf("waiting for the %s to report ready...\n", m.name)
	httpClient := &http.Client{Timeout: 2 * time.Second}
	err := poll(ctx, childReadyTimeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.readyz, nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", m.readyz, resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the %s to be ready (see %s): %w", m.name, m.log, err)
	}
	return nil
}

// stop asks the child to shut down as Kubernetes would (SIGTERM), and kills
// it if it has not finished in time.
func (m *child) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	fmt.Printf("stopping the keyward %s...\n", m.name)
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		fmt.Fprintf(os.Stderr, "run-local: signalling the %s: %v\n", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(childStopTimeout):
		fmt.Fprintf(os.Stderr, "run-local: the %s did not stop within %s; killing it\n", m.name, childStopTimeout)
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// exitError describes an exit nobody asked for, with the end of the log,
// which usually says why.
func (m *child) exitError() error {
	<-m.done
	status := "exited with status 0"
	if m.waitErr != nil {
		status = m.waitErr.Error()
	}
	return fmt.Errorf("the keyward %s %w on its own (%s); last lines of %s:\n%s", m.name, errChildExited, status, m.log, lastLines(m.log, 15))
}

func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, "  "+sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "  (empty)"
	}
	return strings.Join(lines, "\n")
}
