package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery request.
const (
	// SignatureHeader holds "t=<unix seconds>,v1=<hex>[,v1=<hex>]".
	SignatureHeader = "Licensekit-Signature"
	// DeliveryHeader holds the delivery ID, the same on every attempt.
	DeliveryHeader = "Licensekit-Delivery"
	// EventHeader holds the event type.
	EventHeader = "Licensekit-Event"
)

// DefaultTolerance is the replay window of Verify when its tolerance is 0: a
// signature whose timestamp is further than this from the receiver's clock is
// refused.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrNoSignature = errors.New("webhook: no valid signature header")
	ErrTimestamp   = errors.New("webhook: signature timestamp outside the tolerance")
	ErrSignature   = errors.New("webhook: no signature matches the secret")
)

// Sign returns the SignatureHeader value for body sent at t, with one v1
// signature per secret (two during a rotation's overlap).
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=" + hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery as its receiver: header is the SignatureHeader
// value, body the raw request body (before any JSON decoding), secret the
// endpoint's secret. It refuses a timestamp more than tolerance (0:
// DefaultTolerance) away from now, and accepts any v1 signature that matches
// (compared in constant time), so a receiver holding either secret of a
// rotation's overlap verifies. Use the delivery ID header to drop repeats:
// delivery is at least once.
func Verify(secret string, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if len(header) > 4096 {
		return ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignature
}
