"""Runs the Tandem Cinder driver the way cinder-volume does (oslo.config reading a cinder.conf,
a Configuration for the backend group, the class cinder.conf names) for one call, in a process
of its own so that Cinder's options never meet Nova's. Prints one JSON line.

Usage: driver_call.py CINDER_CONF attach VOLUME_ID HOST   (creates the 1 GiB volume if needed,
                                                          then initialize_connection)
       driver_call.py CINDER_CONF detach VOLUME_ID HOST   (terminate_connection, delete_volume)
"""

import configparser
import json
import sys

from oslo_config import cfg
from oslo_utils import importutils

from cinder import context
from cinder import objects
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver


def main(conf_file, action, volume_id, host):
    objects.register_all()
    cfg.CONF(['--config-file', conf_file], project='cinder')
    backend = cfg.CONF.enabled_backends[0]
    raw = configparser.RawConfigParser()
    raw.read(conf_file)
    driver_class = importutils.import_class(raw.get(backend, 'volume_driver'))
    conf = configuration.Configuration(cinder_driver.volume_opts, config_group=backend)
    conf.append_config_values(driver_class.get_driver_options())
    d = driver_class(configuration=conf)
    d.do_setup(context.get_admin_context())
    d.check_for_setup_error()
    vol = objects.Volume(id=volume_id, size=1, host='%s@%s#%s' % (host, backend, conf.tandem_default_resource_group),
                         volume_type_id=None, _name_id=None, volume_attachment=objects.VolumeAttachmentList())
    connector = {'host': host, 'platform': 'x86_64', 'os_type': 'linux', 'multipath': False}
    if action == 'attach':
        d.create_volume(vol)
        print(json.dumps(d.initialize_connection(vol, connector)))
    elif action == 'detach':
        d.terminate_connection(vol, connector)
        d.delete_volume(vol)
        print(json.dumps({'detached': True}))
    else:
        raise SystemExit('unknown action ' + action)


if __name__ == '__main__':
    main(*sys.argv[1:])
