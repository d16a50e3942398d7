// Manual check (not part of CI, the SDK is not a project dependency): the
// official Node alipay-sdk (validateSign: true) accepts the simulator's signed
// responses and notifications. See README.md beside this file.
const { AlipaySdk } = require('alipay-sdk');
const fs = require('fs');
const http = require('http');
const querystring = require('querystring');
const sdk = new AlipaySdk({
  appId: '2021000000000001',
  privateKey: fs.readFileSync(__dirname + '/../../deploy/keys/demo-app-private.pem', 'ascii'),
  alipayPublicKey: fs.readFileSync(__dirname + '/../../deploy/keys/demo-alipay-public.pem', 'ascii'),
  gateway: 'http://127.0.0.1:9191/gateway.do',
  keyType: 'PKCS8',
  camelcase: false,
});
const notes = [];
const srv = http.createServer((req, res) => {
  let b = '';
  req.on('data', c => b += c);
  req.on('end', () => {
    const data = querystring.parse(b);
    notes.push([data.trade_status, sdk.checkNotifySign(data), sdk.checkNotifySignV2(data)]);
    res.end('success');
  });
}).listen(9193);
(async () => {
  const opt = { validateSign: true };
  const show = (n, r) => console.log(n, JSON.stringify(r));
  show('pay', await sdk.exec('alipay.trade.pay', { notify_url: 'http://127.0.0.1:9193/n', bizContent: { out_trade_no: 'JS_1', scene: 'bar_code', auth_code: '283456789012340000', subject: 'js 测试', total_amount: 1.5 } }, opt));
  show('query', await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: 'JS_1' } }, opt));
  show('refund', await sdk.exec('alipay.trade.refund', { bizContent: { out_trade_no: 'JS_1', refund_amount: '0.50', out_request_no: 'R1' } }, opt));
  show('precreate', await sdk.exec('alipay.trade.precreate', { bizContent: { out_trade_no: 'JS_2', total_amount: '2.00', subject: 'qr' } }, opt));
  show('close', await sdk.exec('alipay.trade.close', { bizContent: { out_trade_no: 'JS_2' } }, opt));
  show('refund-unpaid', await sdk.exec('alipay.trade.refund', { bizContent: { out_trade_no: 'JS_2', refund_amount: '0.50' } }, opt));
  show('pay-10003', await sdk.exec('alipay.trade.pay', { bizContent: { out_trade_no: 'JS_3', scene: 'bar_code', auth_code: '283456789012341003', subject: 'x', total_amount: '1.00' } }, opt));
  await new Promise(r => setTimeout(r, 500));
  console.log('notifications (status, checkNotifySign, checkNotifySignV2):', JSON.stringify(notes));
  srv.close();
})().catch(e => { console.error('FAILED', e); process.exit(1); });
