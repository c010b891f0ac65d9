// Package scope is the grammar of keyward API-key scopes and the rules for
// matching them.
//
// It is the single implementation shared by the admission webhook, which
// rejects malformed scopes and over-broad delegations, and the request-time
// verifier, which authorises each call. Keeping both on one implementation
// means a scope can never be accepted by one and read differently by the other.
//
// # Grammar
//
// A scope is written
//
//	<org>/<project>/<type>[/<id>]:<action>
//
// for example
//
//	acme/payments/investigations:read
//	acme/payments/evidence/EV-2024.0042:write
//	acme/*/users:admin
//
// Its parts are:
//
//   - org, project and type: each is "*" or a DNS label, 1 to 63 lowercase
//     letters, digits and "-", starting and ending with a letter or digit.
//     They form a hierarchy: an organisation holds projects, and a project
//     holds resources of a type such as investigations, evidence or users.
//   - id (optional): "*" or 1 to 128 letters (either case), digits, ".", "_"
//     and "-", starting with a letter or digit. Without an id the scope names
//     every resource of the type, including the collection itself. "/*" means
//     the same and is dropped from the canonical form, so
//     acme/payments/evidence/*:read is written acme/payments/evidence:read.
//   - action: one of read, write, delete, execute or admin. admin implies the
//     other four. There is no "*" action; use admin.
//
// "*" stands for exactly one segment with any value, and only as a whole
// segment: inv* is not a wildcard and is rejected. Empty segments, extra
// segments, upper case in org, project or type, and whitespace anywhere are
// rejected too. A scope is at most [MaxLength] (256) bytes.
//
// [Pattern] is a regular expression that accepts exactly the scopes [Parse]
// accepts, apart from the length limit, so that a CRD can validate scopes with
// it and [MaxLength] before they reach the webhook.
//
// # Matching
//
// A scope allows an action on a resource when its action is that action or
// admin, and every segment matches: "*" matches any non-empty value, and any
// other segment matches only the identical value (case-sensitive). A scope
// with an id allows only that one resource, not the collection or its other
// members.
//
// A scope covers another when it allows everything the other allows; a key
// may only hand out scopes that its own scopes cover. A set of scopes covers
// another set when each scope of the other set is covered by one scope of the
// first.
package scope
