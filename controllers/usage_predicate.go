package controllers

import (
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// ignoreUsageWrites drops the APIKey updates that changed status.usage and
// nothing else: the usage aggregator writes them, up to once a minute for
// every key in use, and the reconciler has nothing to do about them.
var ignoreUsageWrites = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return !onlyUsageChanged(e.ObjectOld, e.ObjectNew)
}}

func onlyUsageChanged(oldObj, newObj any) bool {
	before, ok1 := oldObj.(*keywardv1.APIKey)
	after, ok2 := newObj.(*keywardv1.APIKey)
	if !ok1 || !ok2 || equality.Semantic.DeepEqual(before.Status.Usage, after.Status.Usage) {
		return false
	}
	b, a := before.DeepCopy(), after.DeepCopy()
	for _, k := range []*keywardv1.APIKey{b, a} {
		k.ResourceVersion, k.ManagedFields, k.Status.Usage = "", nil, nil
	}
	return equality.Semantic.DeepEqual(b, a)
}
