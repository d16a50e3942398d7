"""Manual check (not part of CI, the SDK is not a project dependency): the
official python-alipay-sdk accepts the simulator's signed responses and
notifications. See README.md beside this file."""
import os
import threading, urllib.parse, urllib.request, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from alipay import AliPay

KEYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../deploy/keys')

app_private = open(KEYS + '/demo-app-private.pem').read()
alipay_public = open(KEYS + '/demo-alipay-public.pem').read()
got = []

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length'])).decode()
        data = dict(urllib.parse.parse_qsl(body))
        sign = data.pop('sign')
        ok = a.verify(data, sign)
        got.append((data['trade_status'], ok))
        self.send_response(200); self.end_headers(); self.wfile.write(b'success')
    def log_message(self, *a): pass

srv = HTTPServer(('127.0.0.1', 9192), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()

a = AliPay(appid="2021000000000001", app_notify_url="http://127.0.0.1:9192/notify",
           app_private_key_string=app_private, alipay_public_key_string=alipay_public,
           sign_type="RSA2", debug=False, verbose=False)
a._gateway = "http://127.0.0.1:9191/gateway.do"
print("pay", a.api_alipay_trade_pay(out_trade_no="PY_1", scene="bar_code", auth_code="283456789012340000", subject="py 测试", total_amount="1.00"))
print("query", a.api_alipay_trade_query(out_trade_no="PY_1"))
print("refund", a.api_alipay_trade_refund(out_trade_no="PY_1", refund_amount="0.50", out_request_no="R1"))
print("precreate", a.api_alipay_trade_precreate(out_trade_no="PY_2", total_amount="2.00", subject="qr"))
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:9191/_sim/trades/PY_2/buyer-pay", method="POST")).read()
print("cancel", a.api_alipay_trade_cancel(out_trade_no="PY_2"))
print("close", a.api_alipay_trade_close(out_trade_no="PY_NONE"))
try:
    print("10003", a.api_alipay_trade_pay(out_trade_no="PY_3", scene="bar_code", auth_code="283456789012341003", subject="py", total_amount="1.00"))
except Exception as e:
    print("10003 raised", e)
time.sleep(1)
print("notifications verified by the SDK:", got)
