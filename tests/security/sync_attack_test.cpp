// Filled in by the sync_attack_test part of the attack suite.
