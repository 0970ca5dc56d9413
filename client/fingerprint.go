package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
)

// Consumer is who the product runs as, in the server's terms: a user, an
// asset (this installation) and the machine's fingerprint (the asset when
// Asset is empty), with the server and CPU count for per-server metrics.
type Consumer struct {
	User        string
	Asset       string
	Fingerprint string
	Server      string
	CPUs        int
}

// AssetID is Asset, or Fingerprint when Asset is empty (as the server reads it).
func (c Consumer) AssetID() string {
	if c.Asset != "" {
		return c.Asset
	}
	return c.Fingerprint
}

func (c Consumer) check() error {
	for _, s := range []string{c.User, c.Asset, c.Fingerprint, c.Server} {
		if len(s) > 250 || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("client: a consumer field is longer than 250 characters or holds control characters")
		}
	}
	if c.CPUs < 0 || c.CPUs > 4096 {
		return errors.New("client: CPUs must be 0 to 4096")
	}
	return nil
}

// MachineID returns the platform's machine id: /etc/machine-id (or
// /var/lib/dbus/machine-id) on Linux, the hostname elsewhere. A product
// replaces it (before calling Fingerprint) where it knows better, such as the
// registry's MachineGuid on Windows or IOPlatformUUID on macOS.
var MachineID = func() (string, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id, nil
			}
		}
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", errors.New("client: no machine id and no hostname")
	}
	return "host:" + h, nil
}

// Fingerprint returns this machine's stable fingerprint for product: the
// HMAC-SHA256 of MachineID keyed with the product's id, as 32 hex digits.
// The raw machine id never leaves the machine, and two products (or two
// vendors) see unrelated fingerprints of the same machine.
func Fingerprint(product string) (string, error) {
	id, err := MachineID()
	if err != nil {
		return "", err
	}
	return FingerprintOf(id, product), nil
}

// FingerprintOf is Fingerprint for a given machine id.
func FingerprintOf(machineID, product string) string {
	m := hmac.New(sha256.New, []byte("licensekit-fingerprint:"+product))
	m.Write([]byte(machineID))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
