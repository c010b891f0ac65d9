package controllers

import "k8s.io/utils/ptr"

// skipNameValidation skips the check that a controller's name is unique
// in the process for a second instance; otherwise it leaves the choice to
// the manager's options (an explicit false would override a manager that
// was told to skip it, as one of several in a test process is).
func skipNameValidation(secondInstance bool) *bool {
	if secondInstance {
		return ptr.To(true)
	}
	return nil
}
