// Filled in by the http_attack_test part of the attack suite.
