// Package usage is the second, smaller contract between keyward's verifier
// and its manager: how much of its quota each key has spent, as one
// verifier replica saw it. Each replica writes its report into a ConfigMap
// of its own in the verifier namespace; the manager copies what the
// reports say into each APIKey's status.quota.
//
// A report holds counts and times only, never anything that could help to
// use a key, so it may live in a ConfigMap.
package usage
