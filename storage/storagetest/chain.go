package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("chain",
		Test{Name: "LinksEveryEventOfACompany", Run: testChainLinks},
		Test{Name: "RollbackLeavesHeadAlone", Run: testChainRollback},
		Test{Name: "ConcurrentAppendsStayIntact", Run: testChainConcurrent},
	)
}

func chainEvent(company, typ string, n int64) eventlog.Event {
	d, _ := json.Marshal(map[string]int64{"n": n})
	return eventlog.Event{ID: license.NewID(), Company: company, Time: time.Date(2026, 1, 1, 0, 0, 0, int(n), time.UTC),
		Type: eventlog.Type(typ), Count: n, Actor: "chain@example.com", Details: d}
}

func appendN(t *testing.T, s storage.Store, company string, from, n int64) {
	t.Helper()
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		for i := from; i < from+n; i++ {
			if _, err := tx.AppendEvent(context.Background(), chainEvent(company, "chain.test", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append events: %v", err)
	}
}

func verifyChain(t *testing.T, s storage.Store, company string) eventlog.Verification {
	t.Helper()
	v, err := storage.VerifyChain(context.Background(), s, company, time.Now())
	if err != nil {
		t.Fatalf("verify chain of %s: %v", company, err)
	}
	return v
}

func testChainLinks(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	a, b := license.NewID(), license.NewID()
	appendN(t, s, a, 0, 3)
	appendN(t, s, b, 0, 2)
	appendN(t, s, a, 3, 2)
	va, vb := verifyChain(t, s, a), verifyChain(t, s, b)
	if !va.Intact || va.Checked != 5 || !vb.Intact || vb.Checked != 2 {
		t.Fatalf("chain: company a %+v, company b %+v; want intact with 5 and 2 events", va, vb)
	}
	// Each event links to the previous one of its own company only.
	var evs []eventlog.Event
	_ = s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: a, Sort: eventlog.ColChain}, func(e eventlog.Event) error {
			evs = append(evs, e)
			return nil
		})
	})
	if len(evs) != 5 || evs[0].PrevHash != "" {
		t.Fatalf("first event of a company must have an empty PrevHash: %+v", evs)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].PrevHash != evs[i-1].Hash || evs[i].Hash != storage.ChainHash(evs[i].PrevHash, evs[i]) {
			t.Fatalf("event %d does not link to event %d", evs[i].Seq, evs[i-1].Seq)
		}
	}
	if va.LastHash != evs[4].Hash {
		t.Fatalf("LastHash %s, want %s", va.LastHash, evs[4].Hash)
	}
}

func testChainRollback(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	c := license.NewID()
	appendN(t, s, c, 0, 2)
	boom := errors.New("roll back")
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if _, err := tx.AppendEvent(context.Background(), chainEvent(c, "chain.lost", 99)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	appendN(t, s, c, 2, 1)
	if v := verifyChain(t, s, c); !v.Intact || v.Checked != 3 {
		t.Fatalf("after a rolled-back append the chain must continue from the committed head: %+v", v)
	}
}

func testChainConcurrent(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	c := license.NewID()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				err := s.Update(context.Background(), func(tx storage.Tx) error {
					_, err := tx.AppendEvent(context.Background(), chainEvent(c, fmt.Sprintf("chain.g%d", g), int64(i)))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	if v := verifyChain(t, s, c); !v.Intact || v.Checked != 40 {
		t.Fatalf("concurrent appends broke the chain: %+v", v)
	}
}
