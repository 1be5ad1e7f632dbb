package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
)

// ErrWrongEncryptionKey is returned by CheckEncryptionKey when the key
// differs from the one that sealed the stored values.
var ErrWrongEncryptionKey = errors.New("the database was created with another encryption key")

// keyCheckSetting names the setting that holds the key check value.
const keyCheckSetting = "encryption_key_check"

// CheckEncryptionKey verifies that sealer has the key the database was
// created with, and stores a key check value at the first start. Call it
// before serving: a wrong key would otherwise show only when a job pod
// fetches its configuration and the control plane fails to decrypt a
// password. The error wraps ErrWrongEncryptionKey when the key differs.
//
// A database created before the check value existed gets one after its
// first stored password opens with the key.
func CheckEncryptionKey(ctx context.Context, st store.Store, sealer *secrets.Sealer) error {
	check, err := st.GetSetting(ctx, keyCheckSetting)
	switch {
	case err == nil:
		return verifyKeyCheck(sealer, check)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("failed to read the encryption key check value: %w", err)
	}

	if err := openAnyPassword(ctx, st, sealer); err != nil {
		return err
	}
	check, err = sealer.KeyCheck()
	if err != nil {
		return err
	}
	err = st.CreateSetting(ctx, keyCheckSetting, check)
	if errors.Is(err, store.ErrDuplicate) {
		// Another replica stored its value first; check against that one.
		return CheckEncryptionKey(ctx, st, sealer)
	}
	if err != nil {
		return fmt.Errorf("failed to store the encryption key check value: %w", err)
	}
	return nil
}

func verifyKeyCheck(sealer *secrets.Sealer, check string) error {
	if err := sealer.VerifyKeyCheck(check); err != nil {
		return fmt.Errorf("%w: the stored key check value does not decrypt with this key", ErrWrongEncryptionKey)
	}
	return nil
}

// openAnyPassword opens the first stored connection password, if any.
func openAnyPassword(ctx context.Context, st store.Store, sealer *secrets.Sealer) error {
	conns, err := st.ListConnections(ctx)
	if err != nil {
		return fmt.Errorf("failed to list connections to check the encryption key: %w", err)
	}
	for _, c := range conns {
		if c.PasswordSealed == "" {
			continue
		}
		if _, err := sealer.Open(c.PasswordSealed, c.ID); err != nil {
			return fmt.Errorf("%w: the password of connection %s does not decrypt with this key", ErrWrongEncryptionKey, c.ID)
		}
		return nil
	}
	return nil
}
