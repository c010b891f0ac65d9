package scope

import "testing"

func FuzzParse(f *testing.F) {
	for _, tc := range validScopes {
		f.Add(tc.in)
	}
	for _, tc := range invalidScopes {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if len(in) <= MaxLength {
			if match := patternRE.MatchString(in); match != (err == nil) {
				t.Fatalf("Parse(%q) err=%v but Pattern match=%v", in, err, match)
			}
		} else if err == nil {
			t.Fatalf("Parse accepted %d bytes, over MaxLength", len(in))
		}
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse(%q) error is %T, want *ParseError", in, err)
			}
			return
		}
		canonical := s.String()
		again, err := Parse(canonical)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canonical, in, err)
		}
		if again != s {
			t.Fatalf("Parse(%q) = %#v, but its canonical %q parses to %#v", in, s, canonical, again)
		}
		if again.String() != canonical {
			t.Fatalf("canonical form unstable: %q then %q", canonical, again.String())
		}
		if !s.Covers(s) {
			t.Fatalf("%q does not cover itself", canonical)
		}
	})
}
