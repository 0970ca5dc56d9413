package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// State is where a client keeps what must outlive the process: the last good
// validation answers with their offline expiry, the files of borrowed seats,
// and the highest time seen (the clock's high-water mark). Load answers nil
// bytes when nothing was saved yet.
//
// The state is as trustworthy as the machine that holds it: someone who can
// edit it can extend a cached answer. Where that matters, rely on signed
// license files (Borrow, VerifyFile) for offline use.
type State interface {
	Load() ([]byte, error)
	Save([]byte) error
}

// MaxStateSize bounds what a client reads back from its State.
const MaxStateSize = 1 << 20

// MemoryState is a State in memory (lost at exit).
func MemoryState() State { return &memState{} }

type memState struct {
	mu sync.Mutex
	b  []byte
}

func (m *memState) Load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.b...), nil
}

func (m *memState) Save(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = append([]byte(nil), b...)
	return nil
}

// FileState is a State in the file path (mode 0600), replaced atomically on
// every save.
func FileState(path string) State { return fileState(path) }

type fileState string

func (f fileState) Load() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (f fileState) Save(b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(string(f)), ".licensekit-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), string(f))
}

// state is what a State holds, as JSON.
type state struct {
	HighWater   time.Time             `json:"high_water"`
	Validations map[string]Validation `json:"validations,omitempty"` // by License.cacheKey
	Borrowed    map[string]borrowed   `json:"borrowed,omitempty"`    // by pool id
}

// borrowed is a borrowed seat in the state.
type borrowed struct {
	Lease string `json:"lease"`
	File  string `json:"file"`
}

// ErrClockRollback is returned by offline answers when the clock reads
// earlier than the highest time the client has seen, by more than the
// tolerance (WithClockTolerance).
var ErrClockRollback = errors.New("client: the system clock moved backwards; offline answers are refused until it is set right")

func (c *Client) load() error {
	b, err := c.store.Load()
	if err != nil {
		return fmt.Errorf("client: read the state: %w", err)
	}
	if len(b) > MaxStateSize {
		return fmt.Errorf("client: the state is larger than %d bytes", MaxStateSize)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, &c.st); err != nil {
		return fmt.Errorf("client: the state is not valid: %w", err)
	}
	return nil
}

// saveLocked writes the state; c.mu is held.
func (c *Client) saveLocked() error {
	b, err := json.Marshal(c.st)
	if err != nil {
		return err
	}
	return c.store.Save(b)
}

// tick reads the clock, moves the high-water mark forward and reports a
// rollback beyond the tolerance. c.mu is held.
func (c *Client) tickLocked() (time.Time, error) {
	now := c.now().UTC()
	if now.Before(c.st.HighWater.Add(-c.skew)) {
		return now, ErrClockRollback
	}
	if now.After(c.st.HighWater) {
		moved := now.Sub(c.st.HighWater) >= time.Second
		c.st.HighWater = now
		if moved {
			if err := c.saveLocked(); err != nil {
				return now, fmt.Errorf("client: save the state: %w", err)
			}
		}
	}
	return now, nil
}

// Now returns the client's clock reading after checking it against the
// high-water mark: ErrClockRollback when it moved back beyond the tolerance.
func (c *Client) Now() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tickLocked()
}
