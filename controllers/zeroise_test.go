package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
)

// The plaintexts rendered for a delivery Secret are keyward's own buffers,
// which wipePlaintexts overwrites once they are sent or compared; the key
// ID, which is public, stays.
func TestWipePlaintextsOverwritesTheRenderedKeys(t *testing.T) {
	g := NewWithT(t)
	current, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	previous, err := keys.Generate(current.ID())
	g.Expect(err).NotTo(HaveOccurred())
	data := deliveryView{keyID: current.ID(), current: &current, previous: &previous}.data()
	key, prev := data[DeliveryKeyField], data[DeliveryPreviousKeyField]
	g.Expect(string(key)).To(Equal(current.Plaintext()))
	g.Expect(string(prev)).To(Equal(previous.Plaintext()))

	wipePlaintexts(data)
	g.Expect(key).To(Equal(make([]byte, keys.Length)))
	g.Expect(prev).To(Equal(make([]byte, keys.Length)))
	g.Expect(string(data[DeliveryKeyIDField])).To(Equal(current.ID()))
}
