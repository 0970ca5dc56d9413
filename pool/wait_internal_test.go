package pool

import "testing"

// A waiter that leaves the queue with a wake-up it did not use (it got a
// seat while the wake-up was on its way) passes it to the next waiter: the
// seat that release freed is still free, and someone must try for it.
func TestUnusedWakeUpIsPassedOn(t *testing.T) {
	x := enqueue("acme", "p")
	y := enqueue("acme", "p")
	seatFreed("acme", "p")
	select {
	case <-y.wake:
		t.Fatal("the newer waiter was woken first")
	default:
	}
	x.leave() // without reading x.wake
	select {
	case <-y.wake:
	default:
		t.Fatal("the wake-up x did not use was lost")
	}
	y.leave()
	queuesMu.Lock()
	_, left := queues[queueKey{"acme", "p"}]
	queuesMu.Unlock()
	if left {
		t.Fatal("the queue stays after every waiter left")
	}
	z := enqueue("acme", "p")
	if z == nil {
		t.Fatal("enqueue refused on an empty queue")
	}
	z.leave()
}
