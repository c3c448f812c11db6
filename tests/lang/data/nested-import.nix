import ./imp
