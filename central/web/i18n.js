// yiban dashboard: labels. Chinese by default; English switch remembered in localStorage.
const KEY = 'yiban.lang';

const zh = {
  title_city: '一办 · 全市政务大厅', title_hall: '一办 · 大厅控制台',
  live: '实时', offline: '离线', connecting: '连接中', lang_switch: 'English',
  login_title: '请输入访问令牌', login_token: '令牌', login_submit: '登录', logout: '退出',
  login_required: '需要登录',
  halls: '大厅', hall: '大厅', region: '区域', waiting: '等候', longest_wait: '最长等候', occupancy: '在场率',
  occupancy_people: '在场人数', alerts: '告警', alerts_active: '活动告警', lag: '同步滞后', integrity: '完整性',
  integrity_ok: '正常', integrity_broken: '已破坏', connected: '已连接', disconnected: '已断开',
  devices_offline: '离线设备', health_red: '异常', health_amber: '注意', health_green: '正常',
  filter_halls: '筛选大厅…', only_problems: '只看异常', total_waiting: '总等候',
  close: '关闭', queues: '队列', service: '业务', oldest_wait: '最早等候', est_wait: '预计等候',
  open_counters: '开放窗口', counters: '窗口', counter: '窗口', state: '状态', ticket: '当前票号', since: '自',
  devices: '设备', device: '设备', kind: '类型', online: '在线', last_seen: '最后在线', version: '版本',
  alert_rule: '规则', subject: '对象', severity: '级别', message: '内容', raised: '发生时间',
  acked_by: '确认人', comment: '备注', ack: '确认', resolve: '解决', no_alerts: '无告警',
  series_today: '今日趋势', sync: '同步', sync_state: '同步状态', last_contact: '最后联系',
  kpi: '全市指标', kpi_from: '从', kpi_to: '到', kpi_load: '查询', day: '日期', issued: '取号', served: '办结',
  no_shows: '过号', no_show_rate: '过号率', wait_mean: '平均等候', wait_p90: '等候P90', service_mean: '平均办理',
  ratings: '评价数', satisfaction: '满意度', total: '合计',
  wait_hist: '等候时长分布', served_per_hour: '每小时办结', satisfaction_per_hall: '各大厅满意度',
  not_available: '服务器暂不提供', count: '数量',
  business_day: '营业日', served_today: '今日办结', devices_online: '在线设备',
  tickets: '今日票据', number: '票号', search_number: '按票号搜索', all_states: '全部状态', more: '更多',
  issued_at: '取号时间', called_at: '叫号时间', finished_at: '结束时间', recalls: '重呼', class: '类别',
  open: '开放', pause: '暂停', close_counter: '关闭', stats: '今日统计', per_hour: '每小时', per_service: '各业务',
  alerts_open: '未关闭', alerts_all: '全部', none: '无',
  st_waiting: '等候', st_called: '已叫号', st_serving: '办理中', st_completed: '已办结', st_no_show: '过号',
  st_cancelled: '已取消', st_open: '开放', st_paused: '暂停', st_closed: '关闭', st_raised: '待处理',
  st_acknowledged: '已确认', st_resolved: '已解决', sev_warning: '警告', sev_critical: '严重',
  sync_off: '未启用', sync_connected: '已连接', sync_disconnected: '已断开', sync_streaming: '同步中', sync_connecting: '连接中',
  sh_wait: '最长', sh_occ: '在场', sh_alerts: '告警', sh_lag: '滞后', sh_int: '链',
  error: '错误', done: '完成', min: '分', s: '秒', people: '人',
  // cross-region cases (跨域通办)
  nav_overview: '总览', nav_cases: '跨域案件', cases: '跨域通办案件', case_id: '案件编号', origin: '受理大厅', handler: '办理大厅',
  origin_handler: '受理 → 办理', attempt: '次数', applicant: '申请人', applicant_id: '证件号', due: '办理时限', late: '超时',
  late_only: '只看超时', all_halls: '全部大厅', all_roles: '全部', role: '本厅角色', role_origin: '本厅受理', role_handler: '本厅办理',
  submitted_at: '提交时间', updated_at: '更新时间', complete_days: '办结时限', days: '个工作日', contact: '联系人', phone: '电话', note: '备注',
  timeline: '办理过程', time: '时间', step: '环节', by: '经办人', materials: '申请材料', file_name: '文件名', type: '类型', size: '大小',
  present: '已到达', in_transit: '传输中', download: '下载', result: '办理结果', access: '查阅记录', what: '操作', no_cases: '无案件',
  review: '预审', accept: '受理', more_needed: '要求补件', reject: '不予受理', complete: '办结', complete_note: '办结说明',
  note_required: '请填写备注（补件或不予受理须说明原因）', loaded_of: '已显示', refresh: '刷新',
  cs_submitted: '已提交', cs_resubmitted: '已补件重交', cs_received: '已接收', cs_more_needed: '待补件', cs_accepted: '已受理',
  cs_rejected: '不予受理', cs_completed: '已办结', what_detail: '查看详情', what_material: '下载材料',
  // appointments (青易约)
  nav_bookings: '预约', bookings_heatmap: '预约热力图', today: '今天', tomorrow: '明天',
  heat_legend: '已约/容量，颜色表示预约率：', bookings_disabled: '预约功能未启用（中心未配置 --booking）',
  no_slots_day: '当天无可预约时段（休息日或节假日）', no_bookable: '没有可预约的大厅或业务',
};

const en = {
  title_city: 'yiban · City service halls', title_hall: 'yiban · Hall console',
  live: 'live', offline: 'offline', connecting: 'connecting', lang_switch: '中文',
  login_title: 'Enter your access token', login_token: 'Token', login_submit: 'Sign in', logout: 'Sign out',
  login_required: 'Sign-in required',
  halls: 'Halls', hall: 'Hall', region: 'Region', waiting: 'Waiting', longest_wait: 'Longest wait', occupancy: 'Occupancy',
  occupancy_people: 'People inside', alerts: 'Alerts', alerts_active: 'Active alerts', lag: 'Sync lag', integrity: 'Integrity',
  integrity_ok: 'ok', integrity_broken: 'broken', connected: 'connected', disconnected: 'disconnected',
  devices_offline: 'Devices offline', health_red: 'Problem', health_amber: 'Attention', health_green: 'OK',
  filter_halls: 'Filter halls…', only_problems: 'Problems only', total_waiting: 'Total waiting',
  close: 'Close', queues: 'Queues', service: 'Service', oldest_wait: 'Oldest wait', est_wait: 'Est. wait',
  open_counters: 'Open counters', counters: 'Counters', counter: 'Counter', state: 'State', ticket: 'Ticket', since: 'Since',
  devices: 'Devices', device: 'Device', kind: 'Kind', online: 'Online', last_seen: 'Last seen', version: 'Version',
  alert_rule: 'Rule', subject: 'Subject', severity: 'Severity', message: 'Message', raised: 'Raised',
  acked_by: 'Acked by', comment: 'Comment', ack: 'Acknowledge', resolve: 'Resolve', no_alerts: 'No alerts',
  series_today: 'Today', sync: 'Sync', sync_state: 'Sync', last_contact: 'Last contact',
  kpi: 'City KPIs', kpi_from: 'From', kpi_to: 'To', kpi_load: 'Load', day: 'Day', issued: 'Issued', served: 'Served',
  no_shows: 'No-shows', no_show_rate: 'No-show rate', wait_mean: 'Mean wait', wait_p90: 'P90 wait', service_mean: 'Mean service',
  ratings: 'Ratings', satisfaction: 'Satisfaction', total: 'Total',
  wait_hist: 'Wait distribution', served_per_hour: 'Served per hour', satisfaction_per_hall: 'Satisfaction per hall',
  not_available: 'not provided by the server yet', count: 'Count',
  business_day: 'Business day', served_today: 'Served today', devices_online: 'Devices online',
  tickets: "Today's tickets", number: 'Number', search_number: 'Search number', all_states: 'All states', more: 'More',
  issued_at: 'Issued', called_at: 'Called', finished_at: 'Finished', recalls: 'Recalls', class: 'Class',
  open: 'Open', pause: 'Pause', close_counter: 'Close', stats: "Today's statistics", per_hour: 'Per hour', per_service: 'Per service',
  alerts_open: 'Open', alerts_all: 'All', none: 'none',
  st_waiting: 'waiting', st_called: 'called', st_serving: 'serving', st_completed: 'completed', st_no_show: 'no-show',
  st_cancelled: 'cancelled', st_open: 'open', st_paused: 'paused', st_closed: 'closed', st_raised: 'raised',
  st_acknowledged: 'acknowledged', st_resolved: 'resolved', sev_warning: 'warning', sev_critical: 'critical',
  sync_off: 'off', sync_connected: 'connected', sync_disconnected: 'disconnected', sync_streaming: 'streaming', sync_connecting: 'connecting',
  sh_wait: 'max', sh_occ: 'occ', sh_alerts: 'al', sh_lag: 'lag', sh_int: 'chain',
  error: 'Error', done: 'Done', min: 'min', s: 's', people: 'people',
  // cross-region cases
  nav_overview: 'Overview', nav_cases: 'Cases', cases: 'Cross-region cases', case_id: 'Case', origin: 'Origin hall', handler: 'Handling hall',
  origin_handler: 'Origin → handler', attempt: 'Attempt', applicant: 'Applicant', applicant_id: 'ID number', due: 'Due', late: 'late',
  late_only: 'Late only', all_halls: 'All halls', all_roles: 'All', role: 'Our role', role_origin: 'we took it', role_handler: 'we handle it',
  submitted_at: 'Submitted', updated_at: 'Updated', complete_days: 'Completion time', days: 'working days', contact: 'Contact', phone: 'Phone', note: 'Note',
  timeline: 'Timeline', time: 'Time', step: 'Step', by: 'By', materials: 'Materials', file_name: 'Name', type: 'Type', size: 'Size',
  present: 'here', in_transit: 'on the way', download: 'Download', result: 'Result document', access: 'Access log', what: 'What', no_cases: 'No cases',
  review: 'Pre-review', accept: 'Accept', more_needed: 'More needed', reject: 'Reject', complete: 'Complete', complete_note: 'Completion note',
  note_required: 'A note is required (what is missing, or why it is rejected)', loaded_of: 'Showing', refresh: 'Refresh',
  cs_submitted: 'submitted', cs_resubmitted: 'resubmitted', cs_received: 'received', cs_more_needed: 'more needed', cs_accepted: 'accepted',
  cs_rejected: 'rejected', cs_completed: 'completed', what_detail: 'viewed the detail', what_material: 'downloaded a file',
  // appointments
  nav_bookings: 'Bookings', bookings_heatmap: 'Booking heat map', today: 'today', tomorrow: 'tomorrow',
  heat_legend: 'booked/capacity, colour by how full:', bookings_disabled: 'Bookings are not enabled (central runs without --booking)',
  no_slots_day: 'No slots on this day (closed, or a holiday)', no_bookable: 'No hall or service takes bookings',
};

const dicts = { zh, en };
let lang = (() => {
  try { return localStorage.getItem(KEY) === 'en' ? 'en' : 'zh'; } catch { return 'zh'; }
})();

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try { localStorage.setItem(KEY, lang); } catch { /* private mode: not remembered */ }
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
}

/** Label for key; falls back to Chinese, then to the key itself. */
export function t(key) {
  return dicts[lang][key] ?? zh[key] ?? key;
}

/** Label of a state/severity value (st_*, sev_*, cs_*, …), or the raw value. */
export function tState(value, prefix = 'st_') {
  if (value == null) return '';
  const k = prefix + value;
  return dicts[lang][k] ?? zh[k] ?? String(value);
}
