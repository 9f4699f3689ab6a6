// Command keygen mints Emitter-compatible channel keys offline, from a
// license (and optionally a master key), without a running broker.
//
//	go run ./examples/keygen -new
//	HERALD_LICENSE=... go run ./examples/keygen -channel chat/#/ -type rw -ttl 24h
//	HERALD_LICENSE=... HERALD_MASTER=... go run ./examples/keygen -channel a/b/c/ -type rwslp
//	HERALD_LICENSE=... go run ./examples/keygen -decode KEY
//
// The license and master key come from -license and -master or from the
// HERALD_LICENSE and HERALD_MASTER environment variables (prefer the
// environment: command lines are visible to other users). With a master key
// the key is minted as Emitter's keygen would (the master key is checked);
// with a license alone it is minted directly.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/heraldmq/herald/security"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keygen:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	license := fs.String("license", "", "Emitter license (default $HERALD_LICENSE)")
	master := fs.String("master", "", "master (secret) key; optional (default $HERALD_MASTER)")
	channel := fs.String("channel", "", "key target: a/b/c/ (exact), a/+/c/, a/#/ (a/ and below) or #/ (all)")
	perms := fs.String("type", "rw", "permission letters: r w s l p e (x reserved)")
	ttl := fs.Duration("ttl", 0, "key lifetime, such as 24h; 0 means it never expires")
	create := fs.Bool("new", false, "create a new license and master key and print them")
	decode := fs.String("decode", "", "print the permissions, target kind and expiry of a key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if *create {
		l := security.NewLicense()
		fmt.Fprintln(stdout, "license:", l.Encode())
		fmt.Fprintln(stdout, "master: ", l.NewMasterKey())
		return nil
	}

	if *license == "" {
		*license = getenv("HERALD_LICENSE")
	}
	if *master == "" {
		*master = getenv("HERALD_MASTER")
	}
	if *license == "" {
		return errors.New("no license: use -license or HERALD_LICENSE (or -new to create one)")
	}
	l, err := security.ParseLicense(*license)
	if err != nil {
		return err
	}

	if *decode != "" {
		k, err := l.DecryptKey(*decode)
		if err != nil {
			return err
		}
		if !l.Validate(k) {
			return errors.New("the key does not belong to this license")
		}
		fmt.Fprintln(stdout, k)
		return nil
	}

	if *channel == "" {
		return errors.New("-channel is required")
	}
	spec := security.KeySpec{
		Channel:     *channel,
		Permissions: security.ParsePermissions(*perms),
		TTL:         *ttl,
		Now:         time.Now(),
	}
	var key string
	if *master != "" {
		key, err = l.MintWithMaster(*master, spec)
	} else {
		key, err = l.Mint(spec)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}
