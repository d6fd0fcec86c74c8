// Seal + unseal of a ~200-byte JSON session with each transformer, beside
// iron-session's sealData + unsealData as the baseline of the group, so that
// `deno bench` prints how many times faster (or slower) each one is.
//
//   deno bench --allow-read --allow-env bench/cookie_bench.ts

import { sealData, unsealData } from "npm:iron-session@8.0.4";
import { compose } from "../lib/cookie/compose.ts";
import { digest } from "../lib/cookie/digest.ts";
import { encrypt } from "../lib/cookie/encrypt.ts";
import { hmac } from "../lib/cookie/hmac.ts";
import { iron } from "../lib/cookie/iron.ts";
import type { SessionTransformer } from "../lib/cookie/transformer.ts";
import { CONTEXT, JSON_SESSION, PASSWORD, SESSION } from "./_cookie_workload.ts";

const GROUP = `seal+unseal ${JSON_SESSION.length}-byte JSON session`;

function key(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function roundTrip(name: string, transformer: SessionTransformer): void {
  Deno.bench(name, { group: GROUP }, async () => {
    const sealed = await transformer.write(JSON_SESSION, CONTEXT);
    const value = await transformer.read(sealed, CONTEXT);
    if (value !== JSON_SESSION) throw new Error(`${name} did not round-trip`);
  });
}

Deno.bench("iron-session sealData+unsealData", { group: GROUP, baseline: true }, async () => {
  const sealed = await sealData(SESSION, { password: PASSWORD });
  const data = await unsealData<typeof SESSION>(sealed, { password: PASSWORD });
  if (data.user?.id !== SESSION.user.id) throw new Error("iron-session did not round-trip");
});

roundTrip("digest()", digest());
roundTrip("hmac()", hmac({ key: key() }));
roundTrip("encrypt()", encrypt({ key: key() }));
roundTrip("compose(hmac(), encrypt())", compose(hmac({ key: key() }), encrypt({ key: key() })));
roundTrip("iron() (tessera's Fe26.2)", iron({ password: PASSWORD }));
