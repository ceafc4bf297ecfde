// Filled in by the mqtt_attack_test part of the attack suite.
