#!/usr/bin/env bash
# Regenerate the sops-made test vectors (needs sops and age-keygen from
# scripts/deps). keys*.txt are throwaway test keys, used nowhere else.
# Each NAME.enc.EXT is `sops encrypt` of NAME.plain.EXT; vectors.rs
# decrypts every one with ox and compares with the .plain file.
set -euo pipefail
cd "$(dirname "$0")"
[ -f keys.txt ] || age-keygen -o keys.txt 2>/dev/null
[ -f keys2.txt ] || age-keygen -o keys2.txt 2>/dev/null
[ -f keys3.txt ] || age-keygen -o keys3.txt 2>/dev/null
r1=$(age-keygen -y keys.txt); r2=$(age-keygen -y keys2.txt); r3=$(age-keygen -y keys3.txt)
cat > .sops.yaml <<EOC
creation_rules:
  - path_regex: shamir\.
    shamir_threshold: 2
    key_groups: [{age: [$r1]}, {age: [$r2]}, {age: [$r3]}]
  - path_regex: maconly\.
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
    age: $r1
  - path_regex: ^commentrule\.
    encrypted_comment_regex: sops:enc
    age: $r1
  - path_regex: ^uncommentrule\.
    unencrypted_comment_regex: sops:enc
    age: $r1
  - path_regex: twokeys\.
    age: $r2, $r1
  - age: $r1
EOC
export HOME=$PWD SOPS_AGE_KEY_FILE=$PWD/keys.txt
unset SOPS_AGE_RECIPIENTS
for p in *.plain.*; do
  name=${p%%.plain.*}; ext=${p#*.plain.}
  case $name in ssh*) continue;; esac   # made once, see below
  sops encrypt "$p" > "$name.enc.$ext"
done
# what `sops decrypt` prints: ox's output is compared with it
for e in *.enc.*; do
  name=${e%%.enc.*}; ext=${e#*.enc.}
  case $name in ssh*) continue;; esac
  if [ "$name" = shamir ]; then
    cat keys.txt keys3.txt > /tmp/ox-vectors-keys.$$
    SOPS_AGE_KEY_FILE=/tmp/ox-vectors-keys.$$ sops decrypt "$e" > "$name.expected.$ext"
    rm -f /tmp/ox-vectors-keys.$$
  else
    sops decrypt "$e" > "$name.expected.$ext"
  fi
done

# The ssh vectors were made once with the throwaway key ssh_ed25519:
#   sops encrypt --age "$(cut -d' ' -f1,2 ssh_ed25519.pub)" sshpub.plain.yaml > sshpub.enc.yaml
#   sops encrypt --age "$(ox secrets ssh-to-age -i ssh_ed25519.pub)" sshage.plain.yaml > sshage.enc.yaml
# sshpub.expected.yaml: SOPS_AGE_SSH_PRIVATE_KEY_FILE=ssh_ed25519 sops decrypt
# sshage.expected.yaml: SOPS_AGE_KEY="$(ox secrets ssh-to-age --private-key -i ssh_ed25519)" sops decrypt
# (so sops itself accepted ox's ssh -> age private key conversion).
