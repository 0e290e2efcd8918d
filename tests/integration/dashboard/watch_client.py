"""The MQTT client the dashboard test connects and then kicks from the page: python3-paho-mqtt
(Debian's 1.6) with MQTT 5, subscribed to one topic. It prints one line per event on stdout
for test_dashboard.js to wait on ("connected", "subscribed", "disconnected <reason code>") and
exits after the server has closed its connection (no reconnect).

usage: /usr/bin/python3 watch_client.py CLIENT_ID PORT TOPIC
"""
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes


def say(line):
    print(line, flush=True)


def main():
    client_id, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    gone = threading.Event()
    c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)

    def on_connect(client, userdata, flags, rc, properties=None):
        if rc != 0:
            say(f"refused {rc}")
            gone.set()
            return
        say("connected")
        client.subscribe(topic, qos=0)

    def on_subscribe(client, userdata, mid, granted, properties=None):
        say("subscribed")

    def on_disconnect(client, userdata, rc, properties=None):
        # rc is the DISCONNECT's reason code (paho's ReasonCodes), or an error of the socket.
        value = getattr(rc, "value", rc)
        say(f"disconnected {value}")
        gone.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_disconnect = on_disconnect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect("127.0.0.1", port, keepalive=30, clean_start=True, properties=props)
    c.loop_start()
    gone.wait(120)
    c.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
