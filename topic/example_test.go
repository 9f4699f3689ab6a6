package topic_test

import (
	"errors"
	"fmt"

	"github.com/heraldmq/herald/topic"
)

func ExampleMatch() {
	for _, ch := range []string{"sensors/", "sensors/kitchen/", "sensors/kitchen/temp/"} {
		fmt.Println(ch, topic.Match("sensors/", ch, topic.Emitter), topic.Match("sensors/#/", ch, topic.MQTT))
	}
	// Output:
	// sensors/ true true
	// sensors/kitchen/ true true
	// sensors/kitchen/temp/ true true
}

func ExampleValidateChannel() {
	err := topic.ValidateChannel("sensors/+/temp/")
	fmt.Println(err)
	fmt.Println(errors.Is(err, topic.ErrInvalid))
	// Output:
	// invalid channel "sensors/+/temp/": wildcard + in a message channel
	// true
}
