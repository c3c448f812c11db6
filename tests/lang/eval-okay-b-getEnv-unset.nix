builtins.getEnv "OX_LANG_TEST_UNSET_VAR"
