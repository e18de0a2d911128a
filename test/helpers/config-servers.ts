// The `servers` section most test configs share: one loopback listener on a
// free port serving stores named "CAS" and "AC" under the instance "".
export function loopbackServers(): object[] {
  return [
    {
      listener: { http: { socket_address: '127.0.0.1:0' } },
      services: {
        cas: [{ instance_name: '', cas_store: 'CAS' }],
        ac: [{ instance_name: '', ac_store: 'AC' }],
        bytestream: { cas_stores: { '': 'CAS' } },
        capabilities: [{ instance_name: '' }],
        health: {},
      },
    },
  ];
}
