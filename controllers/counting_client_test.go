package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writeLog remembers every write the reconciler sends to the API server, so
// tests can prove that an unchanged APIKey costs no write at all.
type writeLog struct {
	mu      sync.Mutex
	entries []string
	// afterWrite, when set, runs after every successful write; an error it
	// returns is what the reconciler sees, as if the process had died right
	// after the write reached the API server.
	afterWrite func(verb string, obj any) error
}

func (w *writeLog) add(verb string, obj any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entries = append(w.entries, fmt.Sprintf("%s %s", verb, describe(obj)))
}

func (w *writeLog) setAfterWrite(f func(verb string, obj any) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.afterWrite = f
}

// done runs the afterWrite hook for a write that returned err.
func (w *writeLog) done(verb string, obj any, err error) error {
	w.mu.Lock()
	hook := w.afterWrite
	w.mu.Unlock()
	if err != nil || hook == nil {
		return err
	}
	return hook(verb, obj)
}

// since returns the writes after mark that mention any of the needles.
func (w *writeLog) since(mark int, needles ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.entries[mark:] {
		for _, n := range needles {
			if strings.Contains(e, n) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func (w *writeLog) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.entries)
}

func describe(obj any) string {
	switch o := obj.(type) {
	case client.Object:
		return fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())
	case interface {
		GetNamespace() *string
		GetName() *string
	}:
		return fmt.Sprintf("%T %s/%s", o, deref(o.GetNamespace()), deref(o.GetName()))
	}
	return fmt.Sprintf("%T", obj)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type countingClient struct {
	client.Client
	log *writeLog
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.log.add("create", obj)
	return c.log.done("create", obj, c.Client.Create(ctx, obj, opts...))
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.log.add("update", obj)
	return c.log.done("update", obj, c.Client.Update(ctx, obj, opts...))
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.log.add("patch", obj)
	return c.log.done("patch", obj, c.Client.Patch(ctx, obj, patch, opts...))
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.log.add("apply", obj)
	return c.log.done("apply", obj, c.Client.Apply(ctx, obj, opts...))
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.log.add("delete", obj)
	return c.log.done("delete", obj, c.Client.Delete(ctx, obj, opts...))
}

func (c *countingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.log.add("deleteallof", obj)
	return c.log.done("deleteallof", obj, c.Client.DeleteAllOf(ctx, obj, opts...))
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), log: c.log}
}

type countingStatus struct {
	client.SubResourceWriter
	log *writeLog
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.log.add("status-update", obj)
	return s.log.done("status-update", obj, s.SubResourceWriter.Update(ctx, obj, opts...))
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.log.add("status-patch", obj)
	return s.log.done("status-patch", obj, s.SubResourceWriter.Patch(ctx, obj, patch, opts...))
}

func (s *countingStatus) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.log.add("status-apply", obj)
	return s.log.done("status-apply", obj, s.SubResourceWriter.Apply(ctx, obj, opts...))
}
