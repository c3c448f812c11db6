(import (toString ./data/dir/b.nix)).b
